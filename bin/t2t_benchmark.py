r"""t2t-benchmark: how fast a model trains and decodes here, as a table and as JSON.

  t2t-benchmark --problem=translate_ende_multi30k --model=transformer \
      --hparams_set=transformer_small --hparams="num_hidden_layers=3,batch_size=4096" \
      --data_dir=$D --seconds=60 --json_out=bench.json

Trains a fresh model (nothing is saved) for --seconds after a short warm-up on the
problem's real input pipeline, then decodes the first --decode_sentences dev examples with
beam search and greedily (with --checkpoint_path's trained weights, for realistic output
lengths). Reports target (non-pad) tokens/s, step time, matmul GFLOP/s and
its percent of this machine's peak, the padding fraction, the share of time spent waiting
for input, decode sentences/s and peak memory. Run it alone on the machine: it is a speed
figure. See docs/benchmarks.md for what each figure means.
"""
import json
import os
import platform

from absl import flags, logging

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_float("seconds", 60.0, "Seconds of training timed after the warm-up.",
                   lower_bound=1.0)
flags.DEFINE_integer("warmup_steps", 3, "Untimed train steps first (tracing).", lower_bound=1)
flags.DEFINE_integer("decode_sentences", 200, "Dev examples decoded (0: skip decoding).",
                     lower_bound=0)
flags.DEFINE_integer("decode_beam_size", 4, "Beam size of the beam-search figure.",
                     lower_bound=1)
flags.DEFINE_float("decode_alpha", 0.6, "Length penalty of the beam-search figure.")
flags.DEFINE_integer("decode_batch_size", 32, "Sentences per decoding batch.", lower_bound=1)
flags.DEFINE_float("peak_gflops", 0.0, "The machine's peak GFLOP/s for percent_of_peak "
                   "(0: measure a 2048^3 matmul here in the model's compute precision: "
                   "float32, or bfloat16 / float16 under mixed precision).", lower_bound=0.0)
flags.DEFINE_string("json_out", None, "Also write the figures to this JSON file.")

# the model's precision (t2tlike/precision.py) -> the dtype its matmuls run in
COMPUTE_DTYPES = {"none": "float32", "bfloat16": "bfloat16", "float16": "float16"}
ROWS = [
    ("train_target_tokens_per_sec", "train target tokens/s", "{:,.0f}"),
    ("step_seconds", "median step time (s)", "{:.3f}"),
    ("startup_seconds", "start-up: build + first step (s)", "{:.1f}"),
    ("target_tokens_per_step", "target tokens per step", "{:,.0f}"),
    ("padding_fraction", "padding fraction (targets)", "{:.3f}"),
    ("input_wait_fraction", "time waiting for input", "{:.3f}"),
    ("matmul_flops_per_target_token", "matmul FLOPs per target token", "{:,.0f}"),
    ("gflops_per_sec", "achieved GFLOP/s (matmul)", "{:.1f}"),
    ("peak_gflops", "machine peak GFLOP/s", "{:.1f}"),
    ("percent_of_peak", "percent of peak", "{:.1f}"),
    ("decode_sentences_per_sec", "decode sentences/s (beam)", "{:.1f}"),
    ("greedy_decode_sentences_per_sec", "decode sentences/s (greedy)", "{:.1f}"),
    ("train_peak_rss_mb", "peak RSS after training (MB)", "{:,.0f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:,.0f}"),
]


def table(results):
    lines = []
    for key, label, fmt in ROWS:
        if key in results:
            lines.append(f"  {label:<34} {fmt.format(results[key])}")
    return "\n".join(lines)


def main(argv):
    import tempfile

    from t2tlike import registry
    from t2tlike.hparams import create_hparams
    from t2tlike.training import benchmark
    from t2tlike.training.trainer import Trainer
    cli.require("problem", "model", "hparams_set", "data_dir")
    problem = registry.problem(FLAGS.problem)
    registry.model(FLAGS.model)
    problem.data_files(FLAGS.data_dir, "train")  # a clear message if there is no data
    hparams = create_hparams(FLAGS.hparams_set, FLAGS.hparams)
    hparams.freeze()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(problem, FLAGS.model, hparams, FLAGS.data_dir, out, train_steps=1,
                          eval_steps=0, random_seed=FLAGS.random_seed)
        compute = COMPUTE_DTYPES[trainer.model.precision]
        peak = FLAGS.peak_gflops or benchmark.matmul_peak_gflops(dtype=compute)
        results = benchmark.benchmark_training(trainer, FLAGS.seconds, FLAGS.warmup_steps)
        if FLAGS.decode_sentences:
            results.update(benchmark.benchmark_decoding(
                trainer, FLAGS.decode_sentences, FLAGS.decode_beam_size, FLAGS.decode_alpha,
                FLAGS.decode_batch_size, checkpoint_path=FLAGS.checkpoint_path))
    results.update(peak_gflops=peak, percent_of_peak=100.0 * results["gflops_per_sec"] / peak,
                   peak_rss_mb=benchmark.peak_rss_mb())
    setup = dict(problem=FLAGS.problem, model=FLAGS.model, hparams_set=FLAGS.hparams_set,
                 hparams=FLAGS.hparams, seconds=FLAGS.seconds, compute_dtype=compute,
                 decode_beam_size=FLAGS.decode_beam_size, machine=platform.processor() or
                 platform.machine(), cpus=os.cpu_count())
    print(f"{FLAGS.model}/{FLAGS.hparams_set} {FLAGS.hparams} on {FLAGS.problem}, "
          f"matmuls in {compute}:\n"
          f"{table(results)}")
    if FLAGS.json_out:
        from t2tlike.errors import UserError
        from t2tlike.files import atomic_write
        try:
            atomic_write(FLAGS.json_out, json.dumps({**results, "setup": setup}, indent=2) + "\n")
        except OSError as e:
            raise UserError(f"--json_out={FLAGS.json_out}: cannot write it ({e.strerror}); the "
                            "figures are printed above. Pass a writable path.") from e
        logging.info("wrote %s", FLAGS.json_out)


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()

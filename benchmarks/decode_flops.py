"""Benchmark: the matmul work of beam decoding a file with a Transformer, and the time that
work alone takes at this CPU's matmul rate.

Decodes --input with the checkpoint (as t2t-decoder, with --decode_hparams), counting in
the graph how many rows (live beams) every decoding step runs, how long each row's
self-attention cache is and how many source positions it attends to, and how many
(padded) source positions the encoder runs. From those counts and the hparams it prints
the FLOPs of the matmuls (a multiply-add counts 2), by part, and the seconds they need
at the 2048^3 float32 matmul rate measured here (t2t-benchmark's): a floor under the decoding time that
no scheduling of the same work can beat. A speed figure, not a test; see
docs/benchmarks.md.

  python benchmarks/decode_flops.py --data_dir=/tmp/t2t_multi30k/data \\
      --checkpoint_path=/tmp/t2t_multi30k/runs/transformer_multi30k-1200s/train \\
      --input=test.en
"""
import os
import sys
import time

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem")
flags.DEFINE_string("hparams_set", "transformer_multi30k", "registered hparams set")
flags.DEFINE_string("hparams", "", "overrides")
flags.DEFINE_string("data_dir", None, "generated data of --problem (its vocabulary)")
flags.DEFINE_string("checkpoint_path", None, "a run's directory or a checkpoint")
flags.DEFINE_string("input", None, "source lines")
flags.DEFINE_string("decode_hparams", "beam_size=4,alpha=0.6,batch_size=128,"
                    "extra_length=50,early_stopping=True", "as t2t-decoder's")
FLAGS = flags.FLAGS


def _counting(model, tf):
    """Wraps model.decoding_step_fn so that every step adds its work to counters (int64
    variables, updated in the graph). Returns the counters."""
    counts = {name: tf.Variable(0, dtype=tf.int64, trainable=False)
              for name in ("steps", "rows", "self_positions", "memory_positions",
                           "source_positions")}
    inner = model.decoding_step_fn

    def decoding_step_fn(features, num_samples, decode_length):
        counts["source_positions"].assign_add(tf.size(features["inputs"], out_type=tf.int64))
        step_fn, states, context = inner(features, num_samples, decode_length)

        def counted(prev_ids, i, states, context):
            n = tf.size(prev_ids, out_type=tf.int64)
            counts["steps"].assign_add(1)
            counts["rows"].assign_add(n)
            counts["self_positions"].assign_add(n * tf.cast(i + 1, tf.int64))
            counts["memory_positions"].assign_add(
                n * tf.cast(tf.shape(context["mask"])[1], tf.int64))
            return step_fn(prev_ids, i, states, context)

        return counted, states, context

    model.decoding_step_fn = decoding_step_fn
    return counts


def main(argv):
    del argv
    for name in ("data_dir", "checkpoint_path", "input"):
        if not FLAGS[name].value or not os.path.exists(FLAGS[name].value):
            sys.exit(f"--{name}={FLAGS[name].value!r} does not exist (see the docstring)")
    import tensorflow as tf

    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.t2t_model import build_model
    from t2tlike.training.benchmark import matmul_peak_gflops

    hp = registry.hparams(FLAGS.hparams_set)()
    if FLAGS.hparams:
        hp = hp.parse(FLAGS.hparams)
    problem = registry.problem(FLAGS.problem)
    encoders = problem.get_feature_encoders(FLAGS.data_dir)
    model = build_model("transformer", hp.freeze(), problem.get_hparams(hp, FLAGS.data_dir))
    decoder_lib.load(model, FLAGS.checkpoint_path)
    counts = _counting(model, tf)
    decoder = decoder_lib.Decoder(model, encoders["inputs"], encoders["targets"],
                                  decoder_lib.decode_hparams(FLAGS.decode_hparams))
    with open(FLAGS.input, encoding="utf-8") as f:
        encoded = [decoder.encode(line) for line in f.read().splitlines()]
    start = time.perf_counter()
    decoder.decode_encoded(encoded, log=False)
    wall = time.perf_counter() - start
    c = {name: int(v.numpy()) for name, v in counts.items()}

    d, f, v, layers = hp.hidden_size, hp.filter_size, encoders["targets"].vocab_size, \
        hp.num_hidden_layers
    parts = {   # multiply-adds
        "decoder layers (q, k, v, output, encoder-decoder q and output, feed-forward)":
            c["rows"] * layers * (6 * d * d + 2 * d * f),
        "output projection": c["rows"] * d * v,
        "attention over the cache and the memory":
            layers * 2 * d * (c["self_positions"] + c["memory_positions"]),
        "encoder (padded source positions)":
            c["source_positions"] * layers * (4 * d * d + 2 * d * f),
    }
    rate = matmul_peak_gflops()
    total = 2 * sum(parts.values()) / 1e9
    print(f"{len(encoded)} sentences, {FLAGS.decode_hparams}: {c['steps']} steps, "
          f"{c['rows']:,} rows ({c['rows'] / len(encoded):.1f} per sentence); "
          f"decoding took {wall:.1f} s (the first batch's trace included)")
    print("| matmuls | GFLOP | share |")
    print("|---|---|---|")
    for name, macs in parts.items():
        print(f"| {name} | {2 * macs / 1e9:.1f} | {200 * macs / 1e9 / total:.1f}% |")
    print(f"| total | {total:.1f} | |")
    print(f"2048^3 float32 matmul: {rate:.1f} GFLOP/s here; at that rate these matmuls "
          f"alone take {total / rate:.1f} s ({len(encoded) / (total / rate):.1f} sentences/s "
          f"at most)")


if __name__ == "__main__":
    app.run(main)

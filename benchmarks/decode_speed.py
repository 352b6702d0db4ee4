"""Benchmark: decoding speed of a trained checkpoint, without the one-off trace.

Restores --checkpoint_path (a run's directory or a checkpoint prefix) into the model,
builds the same `Decoder` t2t-decoder uses, decodes the first --decode_hparams batch once
(the tf.function's trace and first run), then times the decoding of every line of
--input. Prints sentences/s; with --output, writes the hypotheses (for BLEU). CPU threads
can be set as in the tools. A speed figure, not a test; see docs/benchmarks.md
("Beam search: finished sentences leave the batch", "CPU threads").

  python benchmarks/decode_speed.py --data_dir=/tmp/t2t_multi30k/data \
      --checkpoint_path=/tmp/t2t_multi30k/runs/transformer_multi30k-1200s/train \
      --input=test.en --decode_hparams=beam_size=4,alpha=0.6,batch_size=128,\
extra_length=50,early_stopping=True
"""
import os
import sys

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem")
flags.DEFINE_string("model", "transformer", "registered model")
flags.DEFINE_string("hparams_set", "transformer_multi30k", "registered hparams set")
flags.DEFINE_string("hparams", "", "overrides")
flags.DEFINE_string("data_dir", None, "generated data of --problem (its vocabulary)")
flags.DEFINE_string("checkpoint_path", None, "a run's directory or a checkpoint prefix")
flags.DEFINE_string("input", None, "source lines to decode")
flags.DEFINE_string("output", None, "where to write the hypotheses (optional)")
flags.DEFINE_string("decode_hparams", "beam_size=4,alpha=0.6,batch_size=128",
                    "as t2t-decoder's")
flags.DEFINE_integer("intra_op_parallelism_threads", 0, "0: TensorFlow's default")
flags.DEFINE_integer("inter_op_parallelism_threads", 0, "0: TensorFlow's default")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    for name in ("data_dir", "checkpoint_path", "input"):
        if not FLAGS[name].value or not os.path.exists(FLAGS[name].value):
            sys.exit(f"--{name}={FLAGS[name].value!r} does not exist")
    import tensorflow as tf

    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.files import atomic_write
    from t2tlike.t2t_model import build_model
    from t2tlike import run_config
    from t2tlike.training.benchmark import time_decoding

    run_config.set_cpu_threads(FLAGS.intra_op_parallelism_threads,
                               FLAGS.inter_op_parallelism_threads)

    hp = registry.hparams(FLAGS.hparams_set)()
    if FLAGS.hparams:
        hp = hp.parse(FLAGS.hparams)
    problem = registry.problem(FLAGS.problem)
    encoders = problem.get_feature_encoders(FLAGS.data_dir)
    model = build_model(FLAGS.model, hp.freeze(), problem.get_hparams(hp, FLAGS.data_dir))
    decoder_lib.load(model, FLAGS.checkpoint_path)
    dhp = decoder_lib.decode_hparams(FLAGS.decode_hparams)
    decoder = decoder_lib.Decoder(model, encoders["inputs"], encoders["targets"], dhp)
    with open(FLAGS.input, encoding="utf-8") as f:
        encoded = [decoder.encode(line) for line in f.read().splitlines()]

    timed = time_decoding(decoder, encoded)
    threads = (tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads())
    print(f"{FLAGS.decode_hparams}, threads (intra, inter) {threads} (0: default): "
          f"{timed['per_sec']:.1f} sentences/s ({len(encoded)} in {timed['seconds']:.1f} s; "
          f"first batch with the trace {timed['first_batch_seconds']:.1f} s)")
    if FLAGS.output:
        atomic_write(FLAGS.output, "".join(line + "\n" for line in timed["outputs"]))


if __name__ == "__main__":
    app.run(main)

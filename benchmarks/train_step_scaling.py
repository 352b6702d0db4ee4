"""Benchmark: how the train step's time grows with batch tokens and with sequence length.

Times the trainer's own train step (one tf.function with free batch and length
dimensions, so no shape retraces it) on synthetic batches of random ids with no padding:
first at a fixed length and growing batch size, then at a fixed number of tokens and
growing length (fewer, longer sequences: attention's share grows with length). A speed
figure, not a test; see docs/benchmarks.md ("Scaling").

  python benchmarks/train_step_scaling.py --data_dir=/tmp/t2t_multi30k/data \
      --hparams_set=transformer_small --hparams=num_hidden_layers=3

The data_dir only supplies the problem's vocabulary (t2t-datagen --problem=... first).
"""
import os
import statistics
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem")
flags.DEFINE_string("model", "transformer", "registered model")
flags.DEFINE_string("hparams_set", "transformer_small", "registered hparams set")
flags.DEFINE_string("hparams", "num_hidden_layers=3", "overrides")
flags.DEFINE_string("data_dir", None, "generated data of --problem (for its vocabulary)")
flags.DEFINE_list("batch_tokens", ["1024", "2048", "4096", "8192"],
                  "tokens per batch (source and target each) at --length")
flags.DEFINE_integer("length", 32, "sequence length of the batch-size series")
flags.DEFINE_list("lengths", ["16", "32", "64", "128"], "lengths at --tokens")
flags.DEFINE_integer("tokens", 4096, "tokens per batch of the length series")
flags.DEFINE_integer("steps", 4, "timed steps per shape (after one warm-up step)")
flags.DEFINE_integer("intra_op_parallelism_threads", 0, "0: TensorFlow's default")
flags.DEFINE_integer("inter_op_parallelism_threads", 0, "0: TensorFlow's default")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike import run_config
    from t2tlike.training import trainer as trainer_lib

    run_config.set_cpu_threads(FLAGS.intra_op_parallelism_threads,
                               FLAGS.inter_op_parallelism_threads)

    if not FLAGS.data_dir or not os.path.isdir(FLAGS.data_dir):
        sys.exit(f"--data_dir={FLAGS.data_dir!r} is not a folder; run t2t-datagen "
                 f"--problem={FLAGS.problem} first and pass its --data_dir")
    hp = registry.hparams(FLAGS.hparams_set)()
    if FLAGS.hparams:
        hp = hp.parse(FLAGS.hparams)
    problem = registry.problem(FLAGS.problem)
    vocab = problem.get_hparams(hp, FLAGS.data_dir).vocab_size["targets"]
    rng = np.random.default_rng(1)

    def batch(rows, length):
        ids = lambda: tf.constant(rng.integers(2, vocab, size=(rows, length)), tf.int64)
        return {"inputs": ids(), "targets": ids()}

    shapes = [(int(t) // FLAGS.length, FLAGS.length) for t in FLAGS.batch_tokens] + \
             [(FLAGS.tokens // int(n), int(n)) for n in FLAGS.lengths]
    with tempfile.TemporaryDirectory() as out:
        trainer = trainer_lib.Trainer(problem, FLAGS.model, hp, FLAGS.data_dir, out,
                                      train_steps=1, eval_steps=0)
        first = batch(*shapes[0])
        trainer.build(first)
        spec = {k: tf.TensorSpec([None, None], tf.int64) for k in first}
        step = tf.function(trainer.train_step_fn(), input_signature=[spec])
        float(step(first)[1])                               # trace once
        print(f"{FLAGS.model}/{FLAGS.hparams_set} {FLAGS.hparams} "
              f"(mixed_precision: {trainer.model.precision})")
        print("| batch x length | target tokens | median s/step | target tokens/s |")
        print("|---|---|---|---|")
        seen = set()
        for rows, length in shapes:
            if (rows, length) in seen:
                continue
            seen.add((rows, length))
            data = [batch(rows, length) for _ in range(FLAGS.steps + 1)]
            float(step(data[0])[1])                         # warm-up at this shape
            times = []
            for b in data[1:]:
                start = time.perf_counter()
                float(step(b)[1])
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            print(f"| {rows} x {length} | {rows * length:,} | {median:.3f} | "
                  f"{rows * length / median:,.0f} |", flush=True)


if __name__ == "__main__":
    app.run(main)

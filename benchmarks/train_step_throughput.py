"""Benchmark: training target tokens/s of one model/hparams set on generated data.

Builds the trainer's own train step (the same tf.function the trainer runs), feeds it
real batches of the problem's train split and reports the per-step time and target
(non-pad) tokens/s after one warm-up step. A speed figure, not a test; see
docs/benchmarks.md.

  python benchmarks/train_step_throughput.py --data_dir=/tmp/t2t_multi30k/data \
      --problem=translate_ende_multi30k --hparams_set=transformer_multi30k --steps=12

The data_dir must hold the problem's generated data (t2t-datagen, or the first half of
benchmarks/multi30k_20min.sh).
"""
import os
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem")
flags.DEFINE_string("model", "transformer", "registered model")
flags.DEFINE_string("hparams_set", "transformer_multi30k", "registered hparams set")
flags.DEFINE_string("hparams", "", "overrides, e.g. 'batch_size=4096'")
flags.DEFINE_string("data_dir", None, "generated data of --problem")
flags.DEFINE_integer("steps", 12, "timed steps (after one warm-up step)")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import tensorflow as tf

    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike.training import trainer as trainer_lib

    if not FLAGS.data_dir or not os.path.isdir(FLAGS.data_dir):
        sys.exit(f"--data_dir={FLAGS.data_dir!r} is not a folder; run t2t-datagen "
                 f"--problem={FLAGS.problem} first and pass its --data_dir")
    hp = registry.hparams(FLAGS.hparams_set)()
    if FLAGS.hparams:
        hp = hp.parse(FLAGS.hparams)
    problem = registry.problem(FLAGS.problem)
    with tempfile.TemporaryDirectory() as out:
        trainer = trainer_lib.Trainer(problem, FLAGS.model, hp, FLAGS.data_dir, out,
                                      train_steps=FLAGS.steps + 1, eval_steps=0)
        ds = problem.dataset("train", FLAGS.data_dir, trainer.input_config, seed=1)
        batches = list(ds.take(FLAGS.steps + 1))
        trainer.build(batches[0])
        step = trainer.train_step(ds)
        step(batches[0])                                   # trace + warm-up
        tokens, times = 0.0, []
        for batch in batches[1:]:
            start = time.time()
            _, n = step(batch)
            tokens += float(n)                             # float() waits for the step
            times.append(time.time() - start)
    total = sum(times)
    times.sort()
    print(f"{FLAGS.model}/{FLAGS.hparams_set} {FLAGS.hparams or ''} on {FLAGS.problem}: "
          f"{len(times)} steps, median {times[len(times) // 2]:.2f} s/step, "
          f"{tokens / len(times):.0f} target tokens/step, "
          f"{tokens / total:.0f} target tokens/s")


if __name__ == "__main__":
    app.run(main)

"""Benchmark: how many steps a setting needs, as held-out exact match every --every steps.

Trains a fresh model (nothing is saved) with --random_seed and, every --every steps,
evaluates the whole --split with the trainer's eval step. Its accuracy_per_sequence is
the exact match greedy decoding would score: a sequence whose every target position is
the argmax given the correct prefix is exactly what greedy decoding emits. Stops early
once it reaches --stop_at. A convergence figure, not a test; see docs/benchmarks.md
("Algorithmic reversal").

  python benchmarks/learning_curve.py --data_dir=$HOME/t2t_quickstart/data \
      --model=lstm_seq2seq_attention --hparams_set=lstm_attention_reverse \
      --train_steps=1000 --every=250 --random_seed=1
"""
import os
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("problem", "algorithmic_reverse_binary40", "registered problem")
flags.DEFINE_string("model", "lstm_seq2seq_attention", "registered model")
flags.DEFINE_string("hparams_set", "lstm_attention_reverse", "registered hparams set")
flags.DEFINE_string("hparams", "", "overrides")
flags.DEFINE_string("data_dir", None, "generated data of --problem")
flags.DEFINE_string("split", "test", "the held-out split evaluated (all of it)")
flags.DEFINE_integer("train_steps", 1000, "steps (the learning-rate schedule's length)")
flags.DEFINE_integer("every", 250, "steps between evaluations")
flags.DEFINE_integer("random_seed", 1, "seed of the initialisation and the data order")
flags.DEFINE_float("stop_at", 1.0, "stop once accuracy_per_sequence reaches this")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if not FLAGS.data_dir or not os.path.isdir(FLAGS.data_dir):
        sys.exit(f"--data_dir={FLAGS.data_dir!r} is not a directory; run t2t-datagen first")
    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike.hparams import create_hparams
    from t2tlike.training.trainer import EVAL, TRAIN, Trainer

    problem = registry.problem(FLAGS.problem)
    hparams = create_hparams(FLAGS.hparams_set, FLAGS.hparams).freeze()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(problem, FLAGS.model, hparams, FLAGS.data_dir, out,
                          train_steps=FLAGS.train_steps, eval_steps=0,
                          random_seed=FLAGS.random_seed)
        train = problem.dataset(TRAIN, FLAGS.data_dir, trainer.input_config,
                                seed=FLAGS.random_seed)
        held_out = problem.dataset(EVAL, FLAGS.data_dir, trainer.input_config,
                                   split=FLAGS.split, shuffle=False, repeat=False)
        trainer.build(next(iter(train)))
        train_fn, eval_fn = trainer.train_step(train), trainer.eval_step(train)
        batches, seconds, tokens = iter(train), 0.0, 0.0
        for step in range(1, FLAGS.train_steps + 1):
            started = time.time()
            loss, n = train_fn(next(batches))
            trainer.step.assign(step)
            tokens += float(n)
            seconds += time.time() - started
            if step % FLAGS.every and step != FLAGS.train_steps:
                continue
            exact = trainer.evaluate(eval_fn, dataset=held_out)["accuracy_per_sequence"]
            print(f"step {step}: {FLAGS.split} exact match {100 * exact:.1f}%, train loss "
                  f"{float(loss):.4f}, {seconds:.0f} s of training steps "
                  f"({tokens / seconds:,.0f} target tokens/s)", flush=True)
            if exact >= FLAGS.stop_at:
                break


if __name__ == "__main__":
    app.run(main)

"""Benchmark: the train step as it is against variants of it, in one process, alternating.

On a shared 2-core machine two runs minutes apart can differ by 5%, more than a change
of a few percent. This traces the trainer's own train step several times in one process,
once per variant, and times them in turn on the same real batches of the problem's input
pipeline (each round in another order), so that every variant sees the same load. The
variants:

  this          the step as the toolkit runs it
  keras_dense   Keras's Dense call (a 3-D matmul through tensordot, tf.matmul's
                gradient) instead of layers/dense.py's
  with_pads     the feed-forward networks on every position (use_pad_remover off)
  keras_adam    Keras's Adam update (elementwise ops) instead of the fused ResourceApplyAdam
  add_bias      the Dense layers' bias as a plain add, which Grappler does not fuse into
                the matmul (tf.nn.bias_add is fused with it and the ReLU into one op)

A speed figure, not a test; see docs/benchmarks.md.

  python benchmarks/train_step_variants.py --data_dir=/tmp/t2t_multi30k/data --rounds=12
"""
import statistics
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem")
flags.DEFINE_string("model", "transformer", "registered model")
flags.DEFINE_string("hparams_set", "transformer_small", "registered hparams set")
flags.DEFINE_string("hparams", "num_hidden_layers=3,batch_size=4096", "overrides")
flags.DEFINE_string("data_dir", None, "generated data of --problem")
flags.DEFINE_list("variants", ["this", "keras_dense", "with_pads", "keras_adam"],
                  "what to time")
flags.DEFINE_integer("rounds", 12, "timed steps per variant (after one warm-up step each)")
flags.DEFINE_integer("batches", 8, "real batches, used in turn")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike.layers import dense
    from t2tlike.training import benchmark
    from t2tlike.training import trainer as trainer_lib

    hp = registry.hparams(FLAGS.hparams_set)()
    hp = hp.parse(FLAGS.hparams) if FLAGS.hparams else hp
    problem = registry.problem(FLAGS.problem)
    trainer = trainer_lib.Trainer(problem, FLAGS.model, hp, FLAGS.data_dir, tempfile.mkdtemp(),
                                  train_steps=1, eval_steps=0, random_seed=1)
    dataset = problem.dataset(trainer_lib.TRAIN, FLAGS.data_dir, trainer.input_config, seed=1)
    iterator = iter(dataset)
    batches = [next(iterator) for _ in range(FLAGS.batches)]
    trainer.build(batches[0])
    spec = tf.nest.map_structure(lambda t: tf.TensorSpec([None] * t.shape.rank, t.dtype),
                                 batches[0])

    steps, saved_call, saved_bias_add = {}, dense.Dense.call, tf.nn.bias_add
    for variant in FLAGS.variants:   # each traced at its first call, under its settings
        if variant == "keras_dense":
            dense.Dense.call = keras.layers.Dense.call
        if variant == "add_bias":
            tf.nn.bias_add = lambda x, bias: x + bias
        optimizer, fused = trainer.optimizer, type(trainer.optimizer)
        if variant == "keras_adam":   # the same slots, Keras's update_step while tracing
            optimizer.__class__ = keras.optimizers.Adam
        step = tf.function(trainer.train_step_fn(), input_signature=[spec])
        start = time.perf_counter()
        if variant == "with_pads":
            with benchmark.every_position(trainer.model):
                float(step(batches[0])[1])
        else:
            float(step(batches[0])[1])
        print(f"{variant}: first call (trace, graph optimization, one step) "
              f"{time.perf_counter() - start:.2f} s", flush=True)
        dense.Dense.call, optimizer.__class__ = saved_call, fused
        tf.nn.bias_add = saved_bias_add
        steps[variant] = step

    times = {variant: [] for variant in steps}
    names = list(steps)
    for i in range(FLAGS.rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for variant in order:
            start = time.perf_counter()
            float(steps[variant](batches[i % len(batches)])[1])
            times[variant].append(time.perf_counter() - start)
        print(f"round {i + 1}/{FLAGS.rounds}: " + ", ".join(
            f"{v} {times[v][-1]:.3f} s" for v in names), flush=True)

    base = times[names[0]]
    print(f"\n{FLAGS.model}/{FLAGS.hparams_set} {FLAGS.hparams}, {FLAGS.rounds} steps each "
          f"on {len(batches)} real batches")
    print(f"| variant | median s/step | mean s/step | mean of the paired differences "
          f"to {names[0]} |")
    print("|---|---|---|---|")
    for variant in names:
        diffs = [t - b for t, b in zip(times[variant], base)]
        mean = statistics.mean(diffs)
        error = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
        print(f"| {variant} | {statistics.median(times[variant]):.3f} | "
              f"{statistics.mean(times[variant]):.3f} | {mean:+.3f} s "
              f"({100 * mean / statistics.mean(base):+.1f}%) +- {error:.3f} (standard error) |")


if __name__ == "__main__":
    app.run(main)

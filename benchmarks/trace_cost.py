"""Benchmark: what a train step or a beam search costs before its first result.

A tf.function is built in Python once (the trace: every op of the graph created one by
one), and its first call optimizes the graph (Grappler) before running it. This prints,
for one of the two graphs a run starts with, the ops traced (the graph and its loop and
branch bodies), the trace's seconds, the first call's and the median of the next calls
on the same input:

  train   the train step of t2t-benchmark's reference line (transformer_small, 3 + 3
          layers, batches of 4,096 tokens of --problem's training data);
  decode  the beam search of t2t-decoder on the first --batch lines of --input
          (transformer_multi30k, --checkpoint_path; beam 4, alpha 0.6,
          extra_length=50,early_stopping=True).

A speed figure, not a test: run each alone, a few times in turn, and compare only runs of
the same session (docs/benchmarks.md, "The first step's start-up").

  python benchmarks/trace_cost.py train --data_dir=/tmp/t2t_multi30k/data
  python benchmarks/trace_cost.py decode --data_dir=/tmp/t2t_multi30k/data \
      --checkpoint_path=/tmp/t2t_multi30k/runs/transformer_multi30k-1200s/train \
      --input=test.en
"""
import os
import statistics
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem")
flags.DEFINE_string("data_dir", None, "generated data of --problem")
flags.DEFINE_string("checkpoint_path", None, "decode: a run's directory or a checkpoint prefix")
flags.DEFINE_string("input", None, "decode: source lines")
flags.DEFINE_integer("batch", 128, "decode: sentences in the batch")
flags.DEFINE_integer("calls", 3, "calls after the first, timed for the median")
FLAGS = flags.FLAGS


def ops_traced(concrete):
    """Ops of a traced function: its graph and the bodies of its loops and branches."""
    library = concrete.graph.as_graph_def().library.function
    return len(concrete.graph.get_operations()) + sum(len(f.node_def) for f in library)


def timed(fn):
    """(seconds, result) of fn()."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def fail(message):
    """A usage mistake: one message on stderr, exit status 2."""
    print(f"trace_cost.py: {message}", file=sys.stderr)
    sys.exit(2)


def train_graph():
    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike.training import trainer as trainer_lib

    hp = registry.hparams("transformer_small")().parse("num_hidden_layers=3,batch_size=4096")
    problem = registry.problem(FLAGS.problem)
    trainer = trainer_lib.Trainer(problem, "transformer", hp, FLAGS.data_dir,
                                  tempfile.mkdtemp(), train_steps=1, eval_steps=0,
                                  random_seed=1)
    dataset = problem.dataset("train", FLAGS.data_dir, trainer.input_config, seed=1)
    batch = next(iter(dataset))
    trainer.build(batch)
    return trainer.train_step(dataset), batch


def decode_graph():
    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.t2t_model import build_model

    hp = registry.hparams("transformer_multi30k")()
    problem = registry.problem(FLAGS.problem)
    encoders = problem.get_feature_encoders(FLAGS.data_dir)
    model = build_model("transformer", hp.freeze(), problem.get_hparams(hp, FLAGS.data_dir))
    decoder_lib.load(model, FLAGS.checkpoint_path)
    dhp = decoder_lib.decode_hparams(
        "beam_size=4,alpha=0.6,extra_length=50,early_stopping=True")
    decoder = decoder_lib.Decoder(model, encoders["inputs"], encoders["targets"], dhp)
    with open(FLAGS.input, encoding="utf-8") as f:
        lines = f.read().splitlines()[:FLAGS.batch]
    return decoder, [decoder.encode(line) for line in lines]


def main(argv):
    if len(argv) != 2 or argv[1] not in ("train", "decode"):
        fail("one argument, train or decode, is expected, with flags: "
             "python benchmarks/trace_cost.py train --data_dir=DIR (see its docstring).")
    needed = ("data_dir",) if argv[1] == "train" else ("data_dir", "checkpoint_path", "input")
    for name in needed:
        if not FLAGS[name].value or not os.path.exists(FLAGS[name].value):
            fail(f"--{name}={FLAGS[name].value!r} does not exist; {argv[1]} needs "
                 f"{', '.join('--' + n for n in needed)} (see the docstring).")
    if argv[1] == "train":
        step, batch = train_graph()
        trace, concrete = timed(lambda: step.get_concrete_function(batch))
        calls = [timed(lambda: [float(t) for t in step(batch)])[0]
                 for _ in range(FLAGS.calls + 1)]
    else:
        decoder, batch = decode_graph()
        trace, concrete = timed(decoder.trace)
        calls = [timed(lambda: decoder.decode_ids(batch))[0] for _ in range(FLAGS.calls + 1)]
    first, steady = calls[0], statistics.median(calls[1:])
    print(f"{argv[1]}: {ops_traced(concrete):,} ops traced in {trace:.2f} s; first call "
          f"{first:.2f} s, then {steady:.2f} s per call (median of {FLAGS.calls})")


if __name__ == "__main__":
    app.run(main)

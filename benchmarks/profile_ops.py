"""Benchmark: where the time of a train step, or of beam decoding, goes, by kind of op.

Warms up, then records with TensorFlow's profiler (tf.profiler.experimental), reads the
host trace it writes (an XPlane protobuf, parsed with the proto module TensorFlow ships)
and prints the summed op time per group (matmuls, casts, layer norm, softmax, transposes,
gathers / scatters, top-k, dropout's random numbers, cache concat, optimizer update, ...),
the wall time, and the number of op executions per second of wall time (a measure of
per-op overhead: many small ops cost their scheduling, whatever their kernels do). With
two intra-op threads a kernel's time counts once, so the sum of op time can be below the
wall time (time outside kernels: the executor, Python, the input) or above it (ops run
side by side).
A speed figure, not a test; see docs/benchmarks.md ("Where the time goes").

  python benchmarks/profile_ops.py train --data_dir=/tmp/t2t_multi30k/data
  python benchmarks/profile_ops.py decode --data_dir=/tmp/t2t_multi30k/data \
      --hparams_set=transformer_multi30k --hparams= \
      --checkpoint_path=/tmp/t2t_multi30k/runs/transformer_multi30k-1200s/train \
      --input=test.en --sentences=256 \
      --decode_hparams=beam_size=4,alpha=0.6,batch_size=128,extra_length=50,early_stopping=True

`train` times the trainer's own train step on synthetic batches (--rows x --length random
ids, no padding; the reference model by default: transformer_small, 3+3 layers). The
data_dir only supplies the problem's vocabulary (t2t-datagen first).
"""
import collections
import glob
import os
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("problem", "translate_ende_multi30k", "registered problem")
flags.DEFINE_string("model", "transformer", "registered model")
flags.DEFINE_string("hparams_set", "transformer_small", "registered hparams set")
flags.DEFINE_string("hparams", "num_hidden_layers=3", "overrides")
flags.DEFINE_string("data_dir", None, "generated data of --problem (its vocabulary)")
flags.DEFINE_integer("rows", 128, "train: sentences per synthetic batch")
flags.DEFINE_integer("length", 32, "train: tokens per sentence (source and target)")
flags.DEFINE_integer("steps", 3, "train: profiled steps (after two warm-up steps)")
flags.DEFINE_string("checkpoint_path", None, "decode: a run's directory or a checkpoint")
flags.DEFINE_string("input", None, "decode: source lines")
flags.DEFINE_integer("sentences", 256, "decode: profiled lines of --input (after a "
                     "warm-up batch)")
flags.DEFINE_string("decode_hparams", "beam_size=4,alpha=0.6,batch_size=128,"
                    "extra_length=50,early_stopping=True", "decode: as t2t-decoder's")
flags.DEFINE_integer("top", 12, "also print the op types that took the most time")
flags.DEFINE_integer("top_names", 0, "and the op names (graph nodes) that took the most")
FLAGS = flags.FLAGS

# (group, op types). An op whose type is in no group counts as "other".
GROUPS = (
    ("matmul", {"MatMul", "_MklMatMul", "_FusedMatMul", "_MklFusedMatMul", "BatchMatMulV2",
                "BatchMatMulV3", "_MklBatchMatMulV2", "_MklFusedBatchMatMulV2", "Einsum",
                "_MklEinsum"}),
    ("cast", {"Cast"}),
    ("softmax", {"Softmax", "LogSoftmax", "SoftmaxCrossEntropyWithLogits",
                 "SparseSoftmaxCrossEntropyWithLogits"}),
    ("layer norm (moments, rsqrt)", {"Mean", "SquaredDifference", "Rsqrt", "RsqrtGrad",
                                     "_FusedBatchNormEx", "FusedBatchNormV3",
                                     "FusedBatchNormGradV3"}),
    ("transpose / reshape", {"Transpose", "_MklTranspose", "ConjugateTranspose"}),
    ("gather / scatter (embeddings, beams)", {"GatherV2", "ResourceGather", "GatherNd",
                                              "UnsortedSegmentSum", "ScatterNd",
                                              "TensorScatterUpdate", "TensorScatterAdd",
                                              "TensorScatterSub", "ResourceScatterAdd"}),
    ("concat / pad / slice", {"ConcatV2", "Pad", "PadV2", "Slice", "StridedSlice",
                              "StridedSliceGrad", "Split", "SplitV", "Pack", "Tile",
                              "BroadcastTo"}),
    ("top-k / argmax / sort", {"TopKV2", "ArgMax", "ArgMin"}),
    ("random numbers (dropout)", {"StatelessRandomUniformV2", "StatelessRandomUniformFullIntV2",
                                  "StatelessRandomUniform", "StatelessRandomUniformFullInt",
                                  "StatelessRandomGetKeyCounter"}),
    ("reductions", {"Sum", "Max", "Min", "Prod", "All", "Any", "Cumprod"}),
    ("elementwise", {"Add", "AddV2", "AddN", "_FusedAddN", "Sub", "Mul", "RealDiv", "Div",
                     "Neg", "Exp", "Log", "Sqrt", "Square", "Pow", "Relu", "ReluGrad",
                     "Maximum", "Minimum", "Select", "SelectV2", "Where", "Equal",
                     "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
                     "LogicalAnd", "LogicalOr", "LogicalNot", "OneHot", "FloorDiv",
                     "FloorMod", "BiasAdd", "BiasAddGrad", "Tanh", "Sigmoid",
                     "ZerosLike", "OnesLike", "Fill", "IsFinite", "_MklAdd", "_MklAddV2"}),
    ("optimizer update", {"ResourceApplyAdam", "ResourceApplyAdamWithAmsgrad",
                          "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
                          "ReadVariableOp", "ResourceApplyGradientDescent",
                          "ResourceApplyAdafactor"}),
    ("control flow and bookkeeping", {"Shape", "ShapeN", "Size", "Rank", "Reshape",
                                      "Identity", "Range", "Const", "NoOp", "Enter", "Exit",
                                      "Merge", "Switch", "NextIteration", "LoopCond",
                                      "While", "StatelessWhile", "If", "StatelessIf",
                                      "PartitionedCall", "StatefulPartitionedCall",
                                      "PlaceholderWithDefault", "_Retval", "_Arg"}),
)
_GROUP_OF = {op: group for group, ops in GROUPS for op in ops}
# Ops that only run others: their time is their children's, counted there.
_CONTAINERS = {"While", "StatelessWhile", "If", "StatelessIf", "PartitionedCall",
               "StatefulPartitionedCall"}


def op_times(logdir):
    """The host plane of the newest trace in `logdir` -> ({op type: [seconds, runs]},
    executor seconds). Op events are the kernel runs of TensorFlow ops (events with an op
    type as display name); executor seconds are the executor's "Process" spans, which hold
    the kernels and the scheduling around them."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True),
                   key=os.path.getmtime)
    if not paths:
        sys.exit(f"the profiler wrote no trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    totals, executor = collections.defaultdict(lambda: [0.0, 0]), 0.0
    names = collections.defaultdict(lambda: [0.0, 0])
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            for event in line.events:
                meta = plane.event_metadata[event.metadata_id]
                if meta.name == "ExecutorState::Process":
                    executor += event.duration_ps * 1e-12
                elif meta.display_name and ":" in meta.name \
                        and meta.display_name not in _CONTAINERS:
                    totals[meta.display_name][0] += event.duration_ps * 1e-12
                    totals[meta.display_name][1] += 1
                    names[meta.name][0] += event.duration_ps * 1e-12
                    names[meta.name][1] += 1
    return totals, executor, names


def report(times, wall, what):
    totals, executor, names = times
    groups = collections.defaultdict(lambda: [0.0, 0])
    for op_type, (seconds, count) in totals.items():
        group = _GROUP_OF.get(op_type, "other")
        groups[group][0] += seconds
        groups[group][1] += count
    op_seconds = sum(s for s, _ in groups.values())
    executions = sum(c for _, c in groups.values())
    print(f"{what}: wall {wall:.2f} s; op time {op_seconds:.2f} s in {executions:,} op "
          f"runs ({executions / wall:,.0f} per second of wall, "
          f"{op_seconds / max(executions, 1) * 1e6:.1f} us each on average); executor "
          f"{executor:.2f} s, of which {max(executor - op_seconds, 0.0):.2f} s outside "
          f"kernels")
    print("| group | op time (s) | share of op time | op runs |")
    print("|---|---|---|---|")
    for group, (seconds, count) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        print(f"| {group} | {seconds:.3f} | {100 * seconds / op_seconds:.1f}% | {count:,} |")
    print(f"\ntop {FLAGS.top} op types:")
    for op_type, (seconds, count) in sorted(totals.items(), key=lambda kv: -kv[1][0])[
            :FLAGS.top]:
        print(f"  {op_type:32s} {seconds:8.3f} s  {count:9,d} runs  "
              f"({_GROUP_OF.get(op_type, 'other')})")
    if FLAGS.top_names:
        print(f"\ntop {FLAGS.top_names} ops:")
        for name, (seconds, count) in sorted(names.items(), key=lambda kv: -kv[1][0])[
                :FLAGS.top_names]:
            print(f"  {seconds:8.3f} s  {count:7,d} runs  {name}")


def profile(run, what):
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        run()
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        report(op_times(logdir), wall, what)


def profile_train(problem, hp):
    import numpy as np
    import tensorflow as tf

    from t2tlike.training import trainer as trainer_lib

    vocab = problem.get_hparams(hp, FLAGS.data_dir).vocab_size["targets"]
    rng = np.random.default_rng(1)
    shape = (FLAGS.rows, FLAGS.length)
    batches = [{k: tf.constant(rng.integers(2, vocab, size=shape), tf.int64)
                for k in ("inputs", "targets")} for _ in range(FLAGS.steps + 2)]
    with tempfile.TemporaryDirectory() as out:
        trainer = trainer_lib.Trainer(problem, FLAGS.model, hp, FLAGS.data_dir, out,
                                      train_steps=1, eval_steps=0)
        trainer.build(batches[0])
        spec = {k: tf.TensorSpec([None, None], tf.int64) for k in batches[0]}
        step = tf.function(trainer.train_step_fn(), input_signature=[spec])
        for b in batches[:2]:
            float(step(b)[1])                               # trace, warm-up

        def run():
            for b in batches[2:]:
                float(step(b)[1])

        profile(run, f"train step, {FLAGS.rows} x {FLAGS.length}, "
                     f"{FLAGS.steps} steps ({trainer.model.precision})")


def profile_decode(problem, hp):
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.t2t_model import build_model

    for name in ("checkpoint_path", "input"):
        if not FLAGS[name].value or not os.path.exists(FLAGS[name].value):
            sys.exit(f"decode needs --{name}; {FLAGS[name].value!r} does not exist")
    encoders = problem.get_feature_encoders(FLAGS.data_dir)
    model = build_model(FLAGS.model, hp.freeze(), problem.get_hparams(hp, FLAGS.data_dir))
    decoder_lib.load(model, FLAGS.checkpoint_path)
    dhp = decoder_lib.decode_hparams(FLAGS.decode_hparams)
    decoder = decoder_lib.Decoder(model, encoders["inputs"], encoders["targets"], dhp)
    with open(FLAGS.input, encoding="utf-8") as f:
        lines = f.read().splitlines()
    encoded = [decoder.encode(line) for line in lines[:FLAGS.sentences]]
    decoder.decode_encoded(encoded[:int(dhp.batch_size)], log=False)    # trace, warm-up
    profile(lambda: decoder.decode_encoded(encoded, log=False),
            f"decode {len(encoded)} sentences, {FLAGS.decode_hparams}")


def main(argv):
    if len(argv) != 2 or argv[1] not in ("train", "decode"):
        sys.exit("usage: profile_ops.py train|decode --data_dir=... (see the docstring)")
    if not FLAGS.data_dir or not os.path.isdir(FLAGS.data_dir):
        sys.exit(f"--data_dir={FLAGS.data_dir!r} is not a folder; run t2t-datagen "
                 f"--problem={FLAGS.problem} first and pass its --data_dir")
    import data_generators.all_problems  # noqa: F401
    import t2tlike.models  # noqa: F401
    from t2tlike import registry

    hp = registry.hparams(FLAGS.hparams_set)()
    if FLAGS.hparams:
        hp = hp.parse(FLAGS.hparams)
    problem = registry.problem(FLAGS.problem)
    (profile_train if argv[1] == "train" else profile_decode)(problem, hp)


if __name__ == "__main__":
    app.run(main)

"""How fast a model trains and decodes on this machine (the library side of t2t-benchmark).

Training is timed on the trainer's own train step fed by the problem's real input
pipeline, after `warmup_steps` steps (tracing, first-touch allocation). Besides target
(non-pad) tokens/s it reports:

  step_seconds       median wall time of one step (input wait included)
  startup_seconds    creating the variables (Trainer.build) plus the first step, whose
                     time is mostly its trace and graph optimization: what a run spends
                     before its first update
  input_wait_fraction  share of the timed wall time spent waiting for the next batch
                     (near 0 when the pipeline keeps up)
  padding_fraction   pad positions / all positions of the timed batches' targets
  gflops_per_sec     matmul FLOPs executed per second. The FLOPs of a step are counted
                     on the train step's graph (2*m*n*k of every MatMul/BatchMatMul of the
                     forward and backward pass) for the first batch's exact shapes, then
                     scaled to every timed batch by its padded target positions; so pad
                     positions count: the model's FLOPs as written, also where a layer
                     skips pads in training (the Transformer's feed-forward networks with
                     use_pad_remover; counted as if computing them, as MFU counts).
  percent_of_peak    gflops_per_sec / the peak (`peak_gflops`; t2t-benchmark measures
                     a plain 2048^3 tf.matmul on this machine in the model's compute
                     dtype: float32, or bfloat16 under mixed_precision=bfloat16)
  decode_sentences_per_sec   beam search (beam 4, alpha 0.6 by default) over the first
                     dev examples, batched as t2t-decoder batches; greedy too. Give a
                     trained checkpoint: an untrained model never emits EOS, so every
                     sentence runs to the length limit.
  peak_rss_mb        the process's peak resident memory (training and decoding).
"""
import contextlib
import resource
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import logging

from t2tlike import tracing
from t2tlike.decoding import decoder as decoder_lib
from t2tlike.decoding.ids import input_ids
from t2tlike.training import trainer as trainer_lib


def peak_rss_mb():
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_peak_gflops(n=2048, dtype=tf.float32, repeats=5):
    """GFLOP/s of a plain [n, n] x [n, n] tf.matmul: what this CPU reaches at best."""
    a = tf.random.normal([n, n], dtype=tf.float32)
    a = tf.cast(a, dtype)
    fn = tf.function(lambda x: tf.matmul(x, x))
    fn(a).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def step_matmul_flops(step_fn, batch):
    """Matmul FLOPs (2*m*n*k per MatMul / BatchMatMul, forward, backward and update) of
    one call of `step_fn` on a batch of exactly `batch`'s shapes; a matmul whose shapes
    the graph leaves unknown counts 0, so this never overstates."""
    spec = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), batch)
    graph = tracing.Function(step_fn).get_concrete_function(spec).graph
    return float(sum(_matmul_flops(op) for op in _all_ops(graph)))


@contextlib.contextmanager
def every_position(model):
    """While open, `model`'s layers that skip pads in training (a true `pad_remover`
    attribute: the Transformer stacks) compute every position, so that their matmuls have
    static shapes a FLOP count can read (the rows of a pad-removed matmul are known only
    when the step runs)."""
    layers = [layer for layer in model._flatten_layers() if getattr(layer, "pad_remover", False)]
    for layer in layers:
        layer.pad_remover = False
    try:
        yield
    finally:
        for layer in layers:
            layer.pad_remover = True


def _all_ops(graph):
    yield from graph.get_operations()
    for function in getattr(graph, "_functions", {}).values():   # nested tf.functions
        inner = getattr(function, "graph", None)
        if inner is not None:
            yield from _all_ops(inner)


def _matmul_flops(op):
    if op.type not in ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
        return 0
    a, b = op.inputs[0].shape, op.outputs[0].shape
    if not (a.is_fully_defined() and b.is_fully_defined()):
        return 0
    if op.type == "MatMul":
        k = a[0] if op.get_attr("transpose_a") else a[1]
    else:
        k = a[-2] if op.get_attr("adj_x") else a[-1]
    return 2 * int(np.prod(b.as_list())) * int(k)


def _positions(batch):
    return int(np.prod(batch["targets"].shape))


def benchmark_training(trainer, seconds, warmup_steps=3, flops_batches=1, log_every=10.0):
    """Trains `trainer`'s model for `seconds` after warm-up; returns the figures (dict)."""
    dataset = trainer.problem.dataset(trainer_lib.TRAIN, trainer.data_dir, trainer.input_config,
                                      seed=trainer.seed)
    iterator = iter(dataset)
    first = next(iterator)
    began = time.perf_counter()
    trainer.build(first)
    startup = time.perf_counter() - began
    step_fn = trainer.train_step_fn()
    step = trainer.train_step(dataset)

    logging.info("counting the train step's FLOPs on %d batch shape(s)...", flops_batches)
    sample = [first] + [next(iterator) for _ in range(max(flops_batches, 1) - 1)]
    with every_position(trainer.model):
        flops_per_position = sum(step_matmul_flops(step_fn, b) for b in sample) / \
            sum(_positions(b) for b in sample)

    for i in range(warmup_steps):
        began = time.perf_counter()
        float(step(next(iterator))[1])
        if i == 0:
            startup += time.perf_counter() - began
    logging.info("warm-up done (%d steps); timing %.0f s of training", warmup_steps, seconds)

    times, tokens, positions, wait = [], 0.0, 0, 0.0
    start = last_log = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        batch = next(iterator)
        t1 = time.perf_counter()
        loss, n = step(batch)
        n = float(n)                                   # waits for the step to finish
        t2 = time.perf_counter()
        wait += t1 - t0
        times.append(t2 - t0)
        tokens += n
        positions += _positions(batch)
        elapsed = t2 - start
        if t2 - last_log >= log_every:
            last_log = t2
            logging.info("train: %d steps, %.0f target tokens/s, loss %.3f, %.0f s left",
                         len(times), tokens / elapsed, float(loss), max(seconds - elapsed, 0))
        if elapsed >= seconds:
            break
    elapsed = time.perf_counter() - start
    flops = flops_per_position * positions
    figures = {"startup_seconds": startup} if warmup_steps > 0 else {}
    return {
        **figures,
        "train_steps": len(times),
        "train_seconds": elapsed,
        "train_target_tokens_per_sec": tokens / elapsed,
        "step_seconds": statistics.median(times),
        "target_tokens_per_step": tokens / len(times),
        "padding_fraction": 1.0 - tokens / max(positions, 1),
        "input_wait_fraction": wait / elapsed,
        "matmul_flops_per_target_token": flops / max(tokens, 1.0),
        "gflops_per_sec": flops / elapsed / 1e9,
        "train_peak_rss_mb": peak_rss_mb(),
    }


def time_decoding(decoder, encoded):
    """Decodes one batch of `encoded` (the trace and first run), then all of it, timed.
    Returns {"per_sec": sentences/s without the trace, "seconds", "first_batch_seconds",
    "outputs": the decoded texts}."""
    start = time.perf_counter()
    decoder.decode_encoded(encoded[:max(int(decoder.hparams.batch_size), 1)], log=False)
    first = time.perf_counter() - start
    start = time.perf_counter()
    outputs = decoder.decode_encoded(encoded, log=False)
    seconds = time.perf_counter() - start
    return {"per_sec": len(encoded) / seconds, "seconds": seconds,
            "first_batch_seconds": first, "outputs": outputs}


def benchmark_decoding(trainer, sentences=200, beam_size=4, alpha=0.6, batch_size=32,
                       extra_length=50, checkpoint_path=None):
    """Sentences/s of beam search and greedy decoding on the first dev examples, with the
    weights of `checkpoint_path` when given (a trained model stops at EOS; a fresh one
    runs every sentence to the length limit, so its figure is a worst case)."""
    if not trainer.problem_hparams.has_inputs:
        return {}
    if checkpoint_path:
        decoder_lib.restore(trainer.model, checkpoint_path)
    dev = trainer.problem.dataset(trainer_lib.EVAL, trainer.data_dir, trainer.input_config,
                                  batched=False, shuffle=False, repeat=False).take(sentences)
    encoders = trainer.problem.get_feature_encoders(trainer.data_dir)
    inputs = [input_ids(ex["inputs"]) for ex in dev.as_numpy_iterator()]
    if not inputs:
        return {}
    results = {"decode_sentences": len(inputs)}
    for name, beam in (("decode", beam_size), ("greedy_decode", 1)):
        hp = decoder_lib.decode_hparams(f"beam_size={beam},alpha={alpha},"
                                        f"batch_size={batch_size},extra_length={extra_length}")
        decoder = decoder_lib.Decoder(trainer.model, encoders["inputs"], encoders["targets"], hp)
        results[f"{name}_sentences_per_sec"] = time_decoding(decoder, inputs)["per_sec"]
        logging.info("%s (beam %d): %.1f sentences/s", name, beam,
                     results[f"{name}_sentences_per_sec"])
    return results

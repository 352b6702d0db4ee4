"""Benchmark: the GFLOP/s of one matmul per shape, the shapes of a decoding step.

A beam-search step of the Transformer runs, per decoder layer, matmuls of the live beams
[rows, hidden] by the weights (hidden x hidden, hidden x filter, filter x hidden), then
the output projection (hidden x vocab). Their rows shrink as sentences finish. This times
each shape alone (--repeats matmuls in one tf.while_loop, the median of three runs after
a warm-up) beside the 2048^3 matmul, in float32 or bfloat16. A speed figure, not a test;
see docs/benchmarks.md.

  python benchmarks/matmul_shapes.py --rows=512,128,32 --hidden=256 --filter=1024 --vocab=8000
"""
import statistics
import time

from absl import app, flags

flags.DEFINE_list("rows", ["512", "256", "128", "32"], "left-operand rows (live beams)")
flags.DEFINE_integer("hidden", 256, "hidden size")
flags.DEFINE_integer("filter", 1024, "feed-forward filter size")
flags.DEFINE_integer("vocab", 8000, "output vocabulary")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "operand dtype")
flags.DEFINE_integer("repeats", 200, "matmuls per timed run")
FLAGS = flags.FLAGS


def _gflops(tf, m, k, n, dtype, repeats):
    """(GFLOP/s, seconds per matmul): `repeats` matmuls in one tf.while_loop, so that the
    cost of calling from Python is not counted (a decoding step runs in a graph too).
    Each iteration scales the left operand by its counter, so no matmul can be hoisted
    out of the loop."""
    a = tf.cast(tf.random.normal([m, k]), dtype)
    b = tf.cast(tf.random.normal([k, n]), dtype)

    @tf.function
    def run(a, b):
        def body(i, total):
            product = tf.matmul(a * tf.cast(i, dtype), b)
            return i + 1, total + tf.cast(product[0, 0], tf.float32)
        return tf.while_loop(lambda i, _: i < repeats, body, (1, 0.0))[1]

    run(a, b).numpy()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run(a, b).numpy()
        times.append((time.perf_counter() - start) / repeats)
    seconds = statistics.median(times)
    return 2.0 * m * k * n / seconds / 1e9, seconds


def main(argv):
    del argv
    import tensorflow as tf
    dtype = tf.dtypes.as_dtype(FLAGS.dtype)
    h, f, v = FLAGS.hidden, FLAGS.filter, FLAGS.vocab
    peak, _ = _gflops(tf, 2048, 2048, 2048, dtype, 10)
    print(f"{FLAGS.dtype}: 2048 x 2048 x 2048 matmul: {peak:.1f} GFLOP/s")
    print("| rows | weight | GFLOP/s | % of 2048^3 | us per matmul |")
    print("|---|---|---|---|---|")
    for rows in (int(r) for r in FLAGS.rows):
        for k, n in ((h, h), (h, f), (f, h), (h, v)):
            rate, seconds = _gflops(tf, rows, k, n, dtype, FLAGS.repeats)
            print(f"| {rows} | {k} x {n} | {rate:.1f} | {100 * rate / peak:.0f}% | "
                  f"{seconds * 1e6:.0f} |", flush=True)


if __name__ == "__main__":
    app.run(main)

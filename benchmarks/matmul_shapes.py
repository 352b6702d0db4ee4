"""Benchmark: the GFLOP/s of one matmul per shape, the shapes of a decoding step.

A beam-search step of the Transformer runs, per decoder layer, matmuls of the live beams
[rows, hidden] by the weights (hidden x hidden, hidden x filter, filter x hidden), then
the output projection (hidden x vocab). Their rows shrink as sentences finish. This times
each shape alone (--repeats matmuls in one tf.while_loop, the median of three runs after
a warm-up) beside the 2048^3 matmul, in float32 or bfloat16. A speed figure, not a test;
see docs/benchmarks.md.

  python benchmarks/matmul_shapes.py --rows=512,128,32 --hidden=256 --filter=1024 --vocab=8000

With --weight_gradient_tokens=N it times instead the weight gradients of a train step on N
tokens, x^T dy for x [N, in] and dy [N, out], computed as tf.matmul(x, dy, transpose_a)
and as its transpose's transpose, tf.transpose(tf.matmul(dy, x, transpose_a)) (what
t2tlike/layers/dense.py picks when in > out).
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
flags.DEFINE_integer("weight_gradient_tokens", 0, "> 0: time the weight gradients' two "
                     "orientations at this many tokens instead")
FLAGS = flags.FLAGS


def _gflops(tf, m, k, n, dtype, repeats, product=None, a_shape=None, b_shape=None):
    """(GFLOP/s, seconds per matmul): `repeats` matmuls in one tf.while_loop, so that the
    cost of calling from Python is not counted (a decoding step runs in a graph too).
    Each iteration scales the left operand by its counter, so no matmul can be hoisted
    out of the loop. product(a, b) (tf.matmul by default) of a [m, k] and b [k, n], or of
    operands of a_shape and b_shape, that does 2 * m * k * n FLOPs."""
    a = tf.cast(tf.random.normal(a_shape or [m, k]), dtype)
    b = tf.cast(tf.random.normal(b_shape or [k, n]), dtype)
    product = product or tf.matmul

    @tf.function
    def run(a, b):
        def body(i, total):
            product_ = product(a * tf.cast(i, dtype), b)
            return i + 1, total + tf.cast(product_[0, 0], tf.float32)
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
    if FLAGS.weight_gradient_tokens:
        _weight_gradients(tf, dtype, peak, FLAGS.weight_gradient_tokens, h, f, v)
        return
    print("| rows | weight | GFLOP/s | % of 2048^3 | us per matmul |")
    print("|---|---|---|---|---|")
    for rows in (int(r) for r in FLAGS.rows):
        for k, n in ((h, h), (h, f), (f, h), (h, v)):
            rate, seconds = _gflops(tf, rows, k, n, dtype, FLAGS.repeats)
            print(f"| {rows} | {k} x {n} | {rate:.1f} | {100 * rate / peak:.0f}% | "
                  f"{seconds * 1e6:.0f} |", flush=True)


def _weight_gradients(tf, dtype, peak, tokens, h, f, v):
    """Both orientations of x^T dy per weight shape (see the module docstring)."""
    def direct(x, dy):
        return tf.matmul(x, dy, transpose_a=True)

    def transposed(x, dy):
        return tf.transpose(tf.matmul(dy, x, transpose_a=True))

    print(f"weight gradients x^T dy over {tokens} tokens (GFLOP/s, % of 2048^3)")
    print("| weight [in, out] | tf.matmul(x, dy, transpose_a) | (dy^T x)^T |")
    print("|---|---|---|")
    repeats = max(FLAGS.repeats // 10, 5)
    for k, n in ((h, h), (h, f), (f, h), (v, h)):
        rates = [_gflops(tf, k, tokens, n, dtype, repeats, fn, [tokens, k], [tokens, n])[0]
                 for fn in (direct, transposed)]
        print(f"| {k} x {n} | " + " | ".join(f"{r:.1f} ({100 * r / peak:.0f}%)" for r in rates)
              + " |", flush=True)


if __name__ == "__main__":
    app.run(main)

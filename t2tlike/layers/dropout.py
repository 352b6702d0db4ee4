"""Dropout whose mask costs half the random numbers of Keras's.

Keras's Dropout (tf.nn.experimental.stateless_dropout) draws one uniform float per element,
one 32-bit Philox output each, and compares it with the rate. Here each 32-bit output
gives two 16-bit integers, compared with round(rate * 65536): the same mask distribution
to within 2**-17 of the rate (the float path in bfloat16 is only as exact as bfloat16's
8-bit mantissa: 0.1 drops 10.17%), with half the Philox work, which on a CPU is most of a
dropout's time. The seeds come from the layer's SeedGenerator, as Keras's do, so a run is
as reproducible as with Keras's layer (masks differ from Keras's, not between runs).
"""
import keras
import tensorflow as tf


class Dropout(keras.layers.Dropout):
    """keras.layers.Dropout with a 16-bit-threshold mask; a `noise_shape` (masks shared
    along some axes) is left to Keras's layer."""

    def call(self, inputs, training=False):
        if not training or self.rate <= 0 or self.noise_shape is not None:
            return super().call(inputs, training=training)
        if self.rate >= 1:
            return tf.zeros_like(inputs)
        return dropout(inputs, self.rate, self.seed_generator.next())


def dropout(x, rate, seed):
    """x with each element zeroed with probability `rate` (0 < rate < 1) and the rest
    scaled by 1 / (1 - rate); seed: int32 or int64 [2] for tf.random's stateless ops."""
    n = tf.size(x)
    even = bool(x.shape.rank) and x.shape[-1] is not None and x.shape[-1] % 2 == 0  # n too
    bits = tf.random.stateless_uniform([n // 2 if even else (n + 1) // 2], seed, minval=None,
                                       maxval=None, dtype=tf.uint32)   # full 32-bit range
    halves = tf.bitcast(bits, tf.uint16)    # [n / 2, 2]: two 16-bit numbers from each
    if not even:
        halves = tf.reshape(halves, [-1])[:n]
    threshold = min(round(rate * 65536), 65535)    # a rate within 2**-17 of 1 fits uint16
    keep = tf.reshape(halves, tf.shape(x)) >= tf.constant(threshold, tf.uint16)
    scale = tf.where(keep, tf.constant(1.0 / (1.0 - rate), x.dtype), tf.zeros([], x.dtype))
    return _times(x, scale)


@tf.custom_gradient
def _times(x, scale):
    """x * scale, with no gradient for the scale: the backward pass is one multiply
    (autodiff of a select and a multiply takes two, and a zeros tensor)."""
    return x * scale, lambda upstream: (upstream * scale, None)

"""Layer normalization over the last axis with fewer ops to build.

`LayerNorm` is keras.layers.LayerNormalization (same weights, names and checkpoints) with
a lean call for the toolkit's use of it: over the last axis, with gamma and beta. For that
case Keras's call still reshapes gamma and beta on every call and negates the mean in an
op of its own: 5 of its 21 ops, in a layer a search or train step runs a dozen times or
more, each traced op costing about a millisecond of Python. The arithmetic is Keras's,
term for term, so outputs are bit-identical: statistics in float32 (float64 for float64
inputs), y = x * inv + (beta - mean * inv) with inv = gamma / sqrt(variance + epsilon),
cast back to the input's dtype and then to the layer's compute dtype.
"""
import keras
import tensorflow as tf


class LayerNorm(keras.layers.LayerNormalization):
    """keras.layers.LayerNormalization, with fewer ops when it normalizes over the last
    axis with gamma and beta (see the module docstring); Keras's call otherwise."""

    def call(self, inputs):
        """inputs [..., hidden] -> [..., hidden], in the layer's compute dtype."""
        if (self.axis not in ([-1], [len(inputs.shape) - 1]) or self.rms_scaling
                or self.gamma is None or self.beta is None):
            return super().call(inputs)
        x = inputs if inputs.dtype == tf.float64 else tf.cast(inputs, tf.float32)
        mean = tf.reduce_mean(x, -1, keepdims=True)
        variance = tf.reduce_mean(tf.math.squared_difference(x, tf.stop_gradient(mean)), -1,
                                  keepdims=True)
        inv = tf.math.rsqrt(variance + self.epsilon) * tf.cast(self.gamma, x.dtype)
        y = x * inv + (tf.cast(self.beta, x.dtype) - mean * inv)
        return tf.cast(tf.cast(y, inputs.dtype), self.compute_dtype)

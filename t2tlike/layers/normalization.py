"""Layer normalization over the last axis with fewer ops to build and run.

`LayerNorm` is keras.layers.LayerNormalization (same weights, names and checkpoints) with
a lean call for the toolkit's use of it: over the last axis, with gamma and beta.

- Forward: for that case Keras's call still reshapes gamma and beta on every call and
  negates the mean in an op of its own (5 of its 21 ops), in a layer a search or train
  step runs a dozen times or more, each traced op costing about a millisecond of Python.
  The arithmetic is Keras's, term for term, so outputs are bit-identical: statistics in
  float32 (float64 for float64 inputs), y = x * inv + (beta - mean * inv) with
  inv = gamma / sqrt(variance + epsilon), cast back to the input's dtype and then to the
  layer's compute dtype.
- Backward, in training: the closed form of the layer norm's gradient,
  dx = (g - mean(g) - x^ mean(g x^)) / sqrt(variance + epsilon) with g = dy gamma and
  x^ = (x - mean) / sqrt(variance + epsilon), d gamma = sum(dy x^), d beta = sum(dy).
  Autodiff of the forward goes through every broadcast of the statistics (shape ops,
  reductions and reshapes for each): some 60 ops per layer norm against about 20. Equal
  to autodiff's gradient to float32 rounding (the tests).
"""
import keras
import tensorflow as tf


class LayerNorm(keras.layers.LayerNormalization):
    """keras.layers.LayerNormalization, with fewer ops when it normalizes over the last
    axis with gamma and beta (see the module docstring); Keras's call otherwise."""

    def call(self, inputs, training=None):
        """inputs [..., hidden] -> [..., hidden], in the layer's compute dtype."""
        if (self.axis not in ([-1], [len(inputs.shape) - 1]) or self.rms_scaling
                or self.gamma is None or self.beta is None):
            return super().call(inputs)
        x = inputs if inputs.dtype == tf.float64 else tf.cast(inputs, tf.float32)
        normalize = _normalize_with_gradient if training else _normalize
        y = normalize(x, tf.cast(self.gamma, x.dtype), tf.cast(self.beta, x.dtype),
                      self.epsilon)
        return tf.cast(tf.cast(y, inputs.dtype), self.compute_dtype)


def _statistics(x, epsilon):
    """x [..., d] -> (mean, 1 / sqrt(variance + epsilon)), each [..., 1]."""
    mean = tf.reduce_mean(x, -1, keepdims=True)
    variance = tf.reduce_mean(tf.math.squared_difference(x, tf.stop_gradient(mean)), -1,
                              keepdims=True)
    return mean, tf.math.rsqrt(variance + epsilon)


def _normalize(x, gamma, beta, epsilon):
    """x [..., d], gamma and beta [d] -> x normalized over its last axis, scaled and
    shifted: Keras's arithmetic (see the module docstring)."""
    return _scale_and_shift(x, *_statistics(x, epsilon), gamma, beta)


def _scale_and_shift(x, mean, rstd, gamma, beta):
    inv = rstd * gamma
    return x * inv + (beta - mean * inv)


def _normalize_with_gradient(x, gamma, beta, epsilon):
    """_normalize, with the closed-form gradient of the module docstring."""

    @tf.custom_gradient
    def forward(x, gamma, beta):
        mean, rstd = _statistics(x, epsilon)

        def grad(dy):
            rows = list(range(len(x.shape) - 1))     # every axis but the last
            normalized = (x - mean) * rstd
            g = dy * gamma
            dx = rstd * (g - tf.reduce_mean(g, -1, keepdims=True) - normalized *
                         tf.reduce_mean(g * normalized, -1, keepdims=True))
            return dx, tf.reduce_sum(dy * normalized, rows), tf.reduce_sum(dy, rows)

        return _scale_and_shift(x, mean, rstd, gamma, beta), grad

    return forward(x, gamma, beta)

"""Dense layers whose matmuls and weight gradients suit oneDNN on a CPU.

A weight's gradient is x^T dy, summed over every token of the batch: [tokens, in] and
[tokens, out] operands, a long inner dimension and a small [in, out] result. oneDNN
computes the two orientations of that product at different speeds: with in > out (the
feed-forward network's second matmul, 1024 -> 256; the tied output embedding, 8000 x
256) the [in, out] result comes out much slower than its transpose (dy^T x)^T, whose
final transpose is of a small weight-sized tensor. `weight_gradient` takes the faster
one; `matmul` is tf.matmul of activations by a weight with that gradient.

`Dense` is keras.layers.Dense (same weights, names and checkpoints) whose call flattens
the input to one 2-D matmul with `matmul` (Keras's 3-D matmul goes through tensordot, a
dozen shape ops more per call). Float32 outputs are those of Keras's layer: the same
matmul kernel on the same operands.
"""
import keras
import tensorflow as tf


def weight_gradient(x, dy):
    """x^T dy: x [tokens, in], dy [tokens, out] -> [in, out], computed as (dy^T x)^T when
    in > out (the orientation oneDNN runs faster; see the module docstring)."""
    if x.shape[-1] is not None and dy.shape[-1] is not None and x.shape[-1] > dy.shape[-1]:
        return tf.transpose(tf.matmul(dy, x, transpose_a=True))
    return tf.matmul(x, dy, transpose_a=True)


@tf.custom_gradient
def _matmul(x, kernel):
    def grad(dy):
        return tf.matmul(dy, kernel, transpose_b=True), weight_gradient(x, dy)
    return tf.matmul(x, kernel), grad


@tf.custom_gradient
def _matmul_transposed(x, kernel):
    def grad(dy):
        return tf.matmul(dy, kernel), tf.transpose(weight_gradient(x, dy))
    return tf.matmul(x, kernel, transpose_b=True), grad


def matmul(x, kernel, transpose_kernel=False):
    """x [tokens, in] times a weight, kernel [in, out] (or [out, in] with
    `transpose_kernel`) -> [tokens, out]; the forward pass and dx are tf.matmul's, the
    weight's gradient `weight_gradient`'s."""
    return (_matmul_transposed if transpose_kernel else _matmul)(x, kernel)


class Dense(keras.layers.Dense):
    """keras.layers.Dense computed as one 2-D `matmul` (see the module docstring). A
    quantized or LoRA layer keeps Keras's own call."""

    def call(self, inputs, training=None):
        if self.quantization_mode is not None or self.lora_enabled:
            return super().call(inputs, training=training)
        kernel = tf.convert_to_tensor(self.kernel)
        flat = tf.reshape(inputs, [-1, kernel.shape[0]])
        x = matmul(flat, kernel)
        if self.bias is not None:
            x = x + self.bias
        if self.activation is not None:
            x = self.activation(x)
        if inputs.shape.rank == 2:
            return x
        x = tf.reshape(x, tf.concat([tf.shape(inputs)[:-1], [self.units]], axis=0))
        x.set_shape(inputs.shape[:-1].concatenate([self.units]))
        return x

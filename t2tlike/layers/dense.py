"""Dense layers whose matmuls and weight gradients suit oneDNN on a CPU.

A weight's gradient is x^T dy, summed over every token of the batch: [tokens, in] and
[tokens, out] operands, a long inner dimension and a small [in, out] result. oneDNN
computes the two orientations of that product at different speeds: for the feed-forward
network's second matmul (1024 -> 256, or 2048 -> 512) the [in, out] result comes out at
two thirds of the rate of its transpose (dy^T x)^T, final transpose included
(`python benchmarks/matmul_shapes.py --weight_gradient_tokens=4096`, docs/benchmarks.md).
`weight_gradient` takes the transpose when in > out; `matmul` is tf.matmul of activations
by a weight with that gradient. (Not for a vocabulary-sized weight: transposing its large
result costs more than the orientation saves, so the modalities keep tf.matmul.)

`Dense` is keras.layers.Dense (same weights, names and checkpoints) whose call flattens
the input to one 2-D matmul with `matmul` (Keras's 3-D matmul goes through tensordot, a
dozen shape ops more per call). Float32 outputs are those of Keras's layer: the same
matmul kernel on the same operands. Outside training (decoding, evaluation) it is plain
tf.matmul: no gradient is wanted there, and a custom gradient costs time in every trace.
The bias is added with tf.nn.bias_add, which Grappler fuses with the matmul (and a ReLU
after it) into one oneDNN op; a plain add of the bias is not fused.
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
def matmul(x, kernel):
    """x [tokens, in] times a weight, kernel [in, out] -> [tokens, out]; the forward pass
    and dx are tf.matmul's, the weight's gradient `weight_gradient`'s."""
    def grad(dy):
        return tf.matmul(dy, kernel, transpose_b=True), weight_gradient(x, dy)
    return tf.matmul(x, kernel), grad


class Dense(keras.layers.Dense):
    """keras.layers.Dense computed as one 2-D `matmul` (see the module docstring). A
    quantized or LoRA layer keeps Keras's own call."""

    def call(self, inputs, training=None):
        if self.quantization_mode is not None or self.lora_enabled:
            return super().call(inputs, training=training)
        kernel = tf.convert_to_tensor(self.kernel)
        flat = tf.reshape(inputs, [-1, kernel.shape[0]])
        x = matmul(flat, kernel) if training else tf.matmul(flat, kernel)
        if self.bias is not None:
            x = tf.nn.bias_add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        if inputs.shape.rank == 2:
            return x
        if inputs.shape[-1] == self.units:   # the input's shape: fewer ops to trace
            x = tf.reshape(x, tf.shape(inputs))
        else:
            x = tf.reshape(x, tf.concat([tf.shape(inputs)[:-1], [self.units]], axis=0))
        x.set_shape(inputs.shape[:-1].concatenate([self.units]))
        return x

"""t2tlike/layers/normalization.py: LayerNorm against Keras's LayerNormalization (outputs
bit for bit; gradients bit for bit outside training, to rounding with the closed-form
gradient of training; weights, dtypes) and the ops it saves."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.layers.normalization import LayerNorm


def _pair(shape, dtype="float32", **kwargs):
    """LayerNorm and Keras's layer with the same random gamma and beta."""
    ours = LayerNorm(epsilon=1e-6, name="norm", dtype=dtype, **kwargs)
    ref = keras.layers.LayerNormalization(epsilon=1e-6, name="norm", dtype=dtype, **kwargs)
    ours.build(shape)
    ref.build(shape)
    rng = np.random.default_rng(0)
    for a, b in zip(ours.weights, ref.weights):
        value = rng.normal(1.0, 0.5, a.shape).astype("float32")
        a.assign(value)
        b.assign(value)
    return ours, ref


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("shape", [(6, 16), (3, 5, 16)])
def test_outputs_and_gradients_equal_keras_layer_normalization_bit_for_bit(shape, policy):
    ours, ref = _pair(shape, policy)
    x = tf.random.normal(shape, mean=3.0, stddev=2.0, seed=1)
    upstream = tf.random.normal(shape, seed=2)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ours, y_ref = ours(x), ref(x)
        loss_ours = tf.reduce_sum(tf.cast(y_ours, tf.float32) * upstream)
        loss_ref = tf.reduce_sum(tf.cast(y_ref, tf.float32) * upstream)
    assert y_ours.dtype == y_ref.dtype == tf.as_dtype(ours.compute_dtype)
    np.testing.assert_array_equal(tf.cast(y_ours, tf.float32), tf.cast(y_ref, tf.float32))
    grads_ours = tape.gradient(loss_ours, [x] + ours.trainable_weights)
    grads_ref = tape.gradient(loss_ref, [x] + ref.trainable_weights)
    for a, b in zip(grads_ours, grads_ref):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert [w.path for w in ours.weights] == [w.path for w in ref.weights] == [
        "norm/gamma", "norm/beta"]


@pytest.mark.parametrize("policy,tolerance", [("float32", 1e-5), ("mixed_bfloat16", 1e-2)])
@pytest.mark.parametrize("shape", [(6, 16), (3, 5, 16)])
def test_training_gradient_equals_autodiff_of_keras_layer(shape, policy, tolerance):
    ours, ref = _pair(shape, policy)
    x = tf.random.normal(shape, mean=3.0, stddev=2.0, seed=5)
    upstream = tf.random.normal(shape, seed=6)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ours, y_ref = ours(x, training=True), ref(x, training=True)
        loss_ours = tf.reduce_sum(tf.cast(y_ours, tf.float32) * upstream)
        loss_ref = tf.reduce_sum(tf.cast(y_ref, tf.float32) * upstream)
    np.testing.assert_array_equal(tf.cast(y_ours, tf.float32), tf.cast(y_ref, tf.float32))
    grads_ours = tape.gradient(loss_ours, [x] + ours.trainable_weights)
    grads_ref = tape.gradient(loss_ref, [x] + ref.trainable_weights)
    for a, b in zip(grads_ours, grads_ref):
        assert a.dtype == b.dtype
        scale = np.abs(b.numpy()).max()
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tolerance,
                                   atol=tolerance * scale)


def _gradient_ops(layer, shape):
    def loss(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(y, [x] + layer.trainable_weights)
    graph = tf.function(loss).get_concrete_function(tf.TensorSpec([None, None, shape[-1]]))
    return len(graph.graph.get_operations())


def test_training_step_builds_far_fewer_ops_than_keras():
    ours, ref = _pair((3, 5, 16))
    assert _gradient_ops(ours, (3, 5, 16)) < _gradient_ops(ref, (3, 5, 16)) / 2


def test_bfloat16_inputs_are_normalized_in_float32():
    ours, ref = _pair((4, 8))
    x = tf.cast(tf.random.normal((4, 8), mean=100.0, seed=3), tf.bfloat16)
    y = ours(x)
    assert y.dtype == tf.float32   # the compute dtype (float32 here)
    np.testing.assert_array_equal(y.numpy(), ref(x).numpy())


def _ops(layer, shape):
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec(shape)).graph
    return len(graph.get_operations())


def test_builds_fewer_ops_than_keras_for_the_last_axis():
    ours, ref = _pair((3, 5, 16))
    assert _ops(ours, (3, 5, 16)) <= _ops(ref, (3, 5, 16)) - 5


def test_other_axes_fall_back_to_keras():
    ours, ref = _pair((3, 5, 16), axis=1)
    x = tf.random.normal((3, 5, 16), seed=4)
    np.testing.assert_array_equal(ours(x).numpy(), ref(x).numpy())
    assert _ops(ours, (3, 5, 16)) == _ops(ref, (3, 5, 16))

"""t2tlike/layers/dense.py: the weight gradient's orientation, the custom-gradient matmul,
and Dense against Keras's layer (outputs, gradients, weights)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.layers.dense import Dense, matmul, weight_gradient


@pytest.mark.parametrize("n_in,n_out", [(24, 5), (5, 24), (8, 8)])
def test_weight_gradient_is_x_transposed_times_dy_in_either_orientation(n_in, n_out):
    x, dy = tf.random.normal([37, n_in], seed=1), tf.random.normal([37, n_out], seed=2)
    got = weight_gradient(x, dy)
    assert got.shape == (n_in, n_out)
    np.testing.assert_allclose(got.numpy(), x.numpy().T @ dy.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_in,n_out", [(12, 7), (7, 12)])
def test_matmul_and_its_gradients_equal_tf_matmuls(n_in, n_out):
    x = tf.random.normal([19, n_in], seed=3)
    kernel = tf.random.normal([n_in, n_out], seed=4)
    upstream = tf.random.normal([19, n_out], seed=5)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel])
        ours, ref = matmul(x, kernel), tf.matmul(x, kernel)
        loss_ours, loss_ref = tf.reduce_sum(ours * upstream), tf.reduce_sum(ref * upstream)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    for a, b in zip(tape.gradient(loss_ours, [x, kernel]), tape.gradient(loss_ref, [x, kernel])):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("training", [True, None])   # `matmul`'s gradient / tf.matmul's
@pytest.mark.parametrize("shape", [(6, 11), (3, 5, 11), (3, 5, 7)])   # 7: in = out
def test_dense_matches_keras_dense_outputs_gradients_and_weight_names(shape, training):
    ours = Dense(7, activation="relu", name="conv1")
    keras_layer = keras.layers.Dense(7, activation="relu", name="conv1")
    ours.build(shape)
    keras_layer.build(shape)
    keras_layer.set_weights(ours.get_weights())
    assert [w.path for w in ours.weights] == [w.path for w in keras_layer.weights]
    x = tf.random.normal(shape, seed=6)
    with tf.GradientTape(persistent=True) as tape:
        y_ours, y_keras = ours(x, training=training), keras_layer(x)
        loss_ours, loss_keras = tf.reduce_sum(y_ours ** 2), tf.reduce_sum(y_keras ** 2)
    assert y_ours.shape == y_keras.shape == shape[:-1] + (7,)
    np.testing.assert_array_equal(y_ours.numpy(), y_keras.numpy())
    for a, b in zip(tape.gradient(loss_ours, ours.trainable_variables),
                    tape.gradient(loss_keras, keras_layer.trainable_variables)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_dense_keeps_the_static_shape_in_a_graph_and_computes_in_the_policy_dtype():
    layer = Dense(4, dtype="mixed_bfloat16")
    layer.build((None, None, 3))
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    out = fn.get_concrete_function().structured_outputs
    assert out.shape.as_list() == [None, None, 4]
    assert out.dtype == tf.bfloat16
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(layer(tf.ones([2, 5, 3])), tf.float32))
    grads = tape.gradient(loss, layer.trainable_variables)
    assert all(g is not None and g.dtype == tf.float32 for g in grads)

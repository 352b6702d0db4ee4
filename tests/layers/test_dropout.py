"""t2tlike/layers/dropout.py: the 16-bit-threshold mask, its scaling, seeds and gradient."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.layers.dropout import Dropout, dropout


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_the_rate_of_dropped_elements_and_the_scale_of_the_kept_ones(rate):
    x = tf.ones([1000, 999])                        # an odd size: the last 16 bits unused
    y = dropout(x, rate, tf.constant([1, 2], tf.int32)).numpy()
    dropped = np.mean(y == 0)
    # binomial standard deviation at 1e6 draws is below 5e-4: 4 of them
    assert abs(dropped - rate) < 2e-3, dropped
    np.testing.assert_allclose(np.unique(y[y != 0]), [1 / (1 - rate)], rtol=1e-6)


def test_masks_are_reproducible_from_the_seed_and_differ_between_calls():
    x = tf.ones([64, 50])
    keras.utils.set_random_seed(0)
    layer = Dropout(0.5, seed=7)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.array_equal(first == 0, second == 0)
    again = Dropout(0.5, seed=7)
    np.testing.assert_array_equal(again(x, training=True).numpy(), first)


def test_inference_and_rate_zero_pass_the_input_through_and_rate_one_zeroes_it():
    x = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(Dropout(0.4)(x, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True).numpy(), x.numpy())
    np.testing.assert_array_equal(Dropout(1.0)(x, training=True).numpy(), np.zeros([3, 4]))


def test_the_gradient_is_zero_where_dropped_and_the_scale_where_kept():
    x = tf.Variable(tf.ones([40, 30]))
    with tf.GradientTape() as tape:
        y = dropout(x, 0.25, tf.constant([3, 4], tf.int32))
        total = tf.reduce_sum(y)
    grad = tape.gradient(total, x).numpy()
    np.testing.assert_allclose(grad, np.where(y.numpy() == 0, 0.0, 1 / 0.75), rtol=1e-6)


def test_bfloat16_stays_bfloat16_and_a_noise_shape_is_keras_own():
    x = tf.ones([8, 6, 4], tf.bfloat16)
    assert dropout(x, 0.1, tf.constant([0, 1], tf.int32)).dtype == tf.bfloat16
    y = Dropout(0.5, noise_shape=(8, 1, 4), seed=1)(tf.ones([8, 6, 4]), training=True).numpy()
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1, :], y.shape))   # shared on axis 1

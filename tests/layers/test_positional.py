"""t2tlike/layers/positional.py: the sinusoidal timing signal against its formula."""
import math

import numpy as np
import pytest
import tensorflow as tf

from t2tlike.layers.positional import add_timing_signal, timing_signal


def reference(length, channels, min_timescale=1.0, max_timescale=1.0e4, start=0):
    """T2T's get_timing_signal_1d in numpy: [length, channels]."""
    half = channels // 2
    increment = math.log(max_timescale / min_timescale) / max(half - 1, 1)
    out = np.zeros([length, channels])
    for p in range(length):
        for i in range(half):
            angle = (p + start) * min_timescale * math.exp(-i * increment)
            out[p, i], out[p, half + i] = math.sin(angle), math.cos(angle)
    return out


@pytest.mark.parametrize("length, channels", [(1, 2), (7, 8), (50, 16), (5, 7), (3, 1)])
def test_values_follow_the_formula(length, channels):
    signal = timing_signal(length, channels)
    assert signal.shape == (1, length, channels) and signal.dtype == tf.float32
    np.testing.assert_allclose(signal[0].numpy(), reference(length, channels), atol=1e-5)


def test_sines_then_cosines_and_the_timescales():
    signal = timing_signal(4, 8, min_timescale=1.0, max_timescale=1000.0)[0].numpy()
    np.testing.assert_allclose(signal[0], [0, 0, 0, 0, 1, 1, 1, 1], atol=1e-7)   # position 0
    # channel 0 has the shortest timescale (1: one radian per position), channel 3 the
    # longest (1000)
    np.testing.assert_allclose(signal[:, 0], np.sin(np.arange(4)), atol=1e-6)
    np.testing.assert_allclose(signal[:, 3], np.sin(np.arange(4) / 1000.0), atol=1e-6)
    np.testing.assert_allclose(signal[:, 7], np.cos(np.arange(4) / 1000.0), atol=1e-6)
    np.testing.assert_allclose(signal[:, :4] ** 2 + signal[:, 4:] ** 2, 1.0, atol=1e-6)


def test_an_odd_channel_count_pads_the_last_channel_with_zeros():
    signal = timing_signal(6, 9)[0].numpy()
    assert not signal[:, 8].any()
    np.testing.assert_allclose(signal[:, :8], timing_signal(6, 8)[0].numpy(), atol=1e-7)


@pytest.mark.parametrize("start", [1, 5, 30])
def test_start_offsets_the_positions(start):
    """Position p of a signal starting at `start` is position start + p of one from 0 (what
    incremental decoding needs at step `start`)."""
    offset = timing_signal(4, 16, start=start)[0].numpy()
    whole = timing_signal(start + 4, 16)[0].numpy()
    np.testing.assert_allclose(offset, whole[start:], atol=1e-5)
    np.testing.assert_allclose(offset, reference(4, 16, start=start), atol=1e-5)


def test_the_length_may_be_a_tensor():
    length = tf.constant(5)
    np.testing.assert_allclose(timing_signal(length, 6).numpy(), timing_signal(5, 6).numpy())


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
def test_add_timing_signal_adds_it_to_every_batch_row_in_the_inputs_dtype(dtype):
    x = tf.cast(tf.reshape(tf.range(2 * 3 * 4, dtype=tf.float32), [2, 3, 4]) / 10.0, dtype)
    for start in (0, 2):
        y = add_timing_signal(x, start=start)
        assert y.shape == x.shape and y.dtype == dtype
        expected = x.numpy().astype(np.float32) + reference(3, 4, start=start)[np.newaxis]
        tolerance = 1e-6 if dtype == tf.float32 else 2e-2
        np.testing.assert_allclose(y.numpy().astype(np.float32), expected, atol=tolerance)


def test_add_timing_signal_inside_tf_function_with_an_unknown_length():
    fn = tf.function(add_timing_signal, input_signature=[tf.TensorSpec([None, None, 8])])
    x = tf.zeros([2, 5, 8])
    np.testing.assert_allclose(fn(x).numpy(), add_timing_signal(x).numpy(), atol=1e-7)

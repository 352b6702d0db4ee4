"""Sinusoidal position signals (Vaswani et al., 2017; T2T's add_timing_signal_1d)."""
import math

import tensorflow as tf


def timing_signal(length, channels, min_timescale=1.0, max_timescale=1.0e4, start=0):
    """[1, length, channels]: sines in the first half of the channels, cosines in the second."""
    position = tf.cast(tf.range(length) + start, tf.float32)
    num_timescales = channels // 2
    log_increment = math.log(max_timescale / min_timescale) / max(num_timescales - 1, 1)
    inv_timescales = min_timescale * tf.exp(
        tf.cast(tf.range(num_timescales), tf.float32) * -log_increment)
    scaled = position[:, tf.newaxis] * inv_timescales[tf.newaxis, :]
    signal = tf.concat([tf.sin(scaled), tf.cos(scaled)], axis=1)
    signal = tf.pad(signal, [[0, 0], [0, channels % 2]])
    return signal[tf.newaxis]


def add_timing_signal(x, start=0):
    """x [batch, length, channels] + the timing signal of positions start.."""
    signal = timing_signal(tf.shape(x)[1], x.shape[-1], start=start)
    return x + tf.cast(signal, x.dtype)

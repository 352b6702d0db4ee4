"""t2tlike/decoding/top_k.py: the blockwise top-k and the top-k log-probabilities match
TensorFlow's top_k and log-sum-exp to the bit."""
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.decoding import top_k


@pytest.mark.parametrize("width, k", [(1000, 8), (8003, 8), (777, 2), (200, 1)])
@pytest.mark.parametrize("ties", [False, True])
def test_blockwise_top_k_equals_top_k(width, k, ties):
    rng = np.random.default_rng(width + k)
    x = rng.normal(size=(5, width))
    if ties:                    # few distinct values: ties everywhere, also at the k-th place
        x = np.round(x * 2)
    x = tf.constant(x, tf.float32)
    values, index = top_k.top_k_rows(x, k)
    want_values, want_index = tf.math.top_k(x, k)
    np.testing.assert_array_equal(values.numpy(), want_values.numpy())
    np.testing.assert_array_equal(index.numpy(), want_index.numpy())


@pytest.mark.parametrize("width, k", [(8000, 8), (8003, 8), (200, 1)])
def test_top_k_log_probs_are_top_k_minus_logsumexp_to_the_bit(width, k):
    rng = np.random.default_rng(width)
    logits = tf.constant(rng.normal(size=(6, width)) * 5, tf.float32)
    log_probs, ids = top_k.top_k_log_probs(logits, k)
    values, want_ids = tf.math.top_k(logits, k)
    want = values - tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
    np.testing.assert_array_equal(ids.numpy(), want_ids.numpy())
    np.testing.assert_array_equal(log_probs.numpy(), want.numpy())

import numpy as np
import pytest
import tensorflow as tf

from t2tlike.training import metrics


def test_metric_sums_ignore_padding():
    # predictions: argmax ids [[2, 3, 4], [2, 9, 9]]
    logits = np.full((2, 3, 10), -5.0, np.float32)
    for b, row in enumerate([[2, 3, 4], [2, 9, 9]]):
        for t, i in enumerate(row):
            logits[b, t, i] = 5.0
    targets = tf.constant([[2, 3, 5], [2, 0, 0]])
    weights = tf.cast(tf.not_equal(targets, 0), tf.float32)
    result = metrics.finalize(metrics.metric_sums(tf.constant(logits), targets, weights))
    assert result["accuracy"] == pytest.approx(3 / 4)
    assert result["accuracy_per_sequence"] == pytest.approx(1 / 2)
    log_p_right = float(tf.nn.log_softmax(logits[0, 0])[2])
    log_p_wrong = float(tf.nn.log_softmax(logits[0, 2])[5])
    assert result["neg_log_perplexity"] == pytest.approx((3 * log_p_right + log_p_wrong) / 4,
                                                         rel=1e-5)

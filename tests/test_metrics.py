"""t2tlike/metrics.py: the batched eval metrics and the corpus BLEU."""
import numpy as np
import pytest
import sacrebleu
import tensorflow as tf

from t2tlike.errors import UserError
from t2tlike import metrics


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


def test_metric_sums_computes_only_the_names_asked_for_and_stays_finite():
    logits = tf.constant([[[0.0, 0.0, 9.0]]])                  # predicts 2
    targets = tf.constant([[0]])                               # all padding
    weights = tf.zeros([1, 1])
    sums = metrics.metric_sums(logits, targets, weights, names=(metrics.ACC,))
    assert list(sums) == [metrics.ACC]
    result = metrics.finalize(metrics.metric_sums(logits, targets, weights))
    # nothing to count: 0 (not NaN) where no position has weight; an all-padding example
    # has no wrong position, so it counts as right
    assert result == {"accuracy": 0.0, "accuracy_per_sequence": 1.0, "neg_log_perplexity": 0.0}


def test_finalize_divides_and_never_divides_by_zero():
    assert metrics.finalize({"a": (3.0, 4.0), "b": (0.0, 0.0)}) == {"a": 0.75, "b": 0.0}


HYPS = ["The cat sat on the mat.", "a quick brown fox", "Hello World"]
REFS = ["The cat sat on a mat.", "the quick brown fox", "hello world"]


@pytest.mark.parametrize("lowercase", [False, True])
def test_corpus_bleu_is_sacrebleus(lowercase):
    bleu = metrics.corpus_bleu(HYPS, REFS, lowercase=lowercase)
    metric = sacrebleu.BLEU(tokenize="13a", lowercase=lowercase)
    expected = metric.corpus_score(HYPS, [REFS])
    assert bleu.score == pytest.approx(expected.score, abs=1e-9)
    assert 0.0 < bleu.score < 100.0
    assert bleu.line == expected.format(signature=str(metric.get_signature()))
    assert ("case:lc" if lowercase else "case:mixed") in bleu.line and "tok:13a" in bleu.line
    assert bleu.report() == f"BLEU = {expected.score:.2f}\n{bleu.line}"


def test_corpus_bleu_of_identical_and_of_disjoint_text():
    assert metrics.corpus_bleu(REFS, REFS).score == pytest.approx(100.0)
    assert metrics.corpus_bleu(["x y z w"] * 3, REFS).score == 0.0
    assert metrics.corpus_bleu(HYPS, REFS, lowercase=True).score > \
        metrics.corpus_bleu(HYPS, REFS).score                 # case differences forgiven


def test_corpus_bleu_of_nothing_or_of_mismatched_lists_is_a_user_error():
    with pytest.raises(UserError, match="empty corpus"):
        metrics.corpus_bleu([], [])
    with pytest.raises(UserError, match="2 hypotheses and 3 references"):
        metrics.corpus_bleu(HYPS[:2], REFS)

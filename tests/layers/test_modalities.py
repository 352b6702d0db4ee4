"""t2tlike/layers/modalities.py: bottoms, tops, smoothed cross-entropy and weighted losses."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike import registry
from t2tlike.layers import modalities
from t2tlike.layers.modalities import (ClassLabelModality, IdentityModality, RealModality,
                                       SymbolModality, smoothed_cross_entropy)

VOCAB, HIDDEN = 11, 8


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def randn(*shape, seed=0, scale=1.0):
    return tf.constant(scale * np.random.default_rng(seed).normal(size=shape), tf.float32)


def test_modalities_are_registered_by_name():
    assert registry.modality("symbol") is SymbolModality
    assert registry.modality(modalities.ModalityType.CLASS_LABEL) is ClassLabelModality
    assert registry.modality("real") is RealModality
    assert registry.modality("identity") is IdentityModality


# -- smoothed_cross_entropy -------------------------------------------------------------------
def test_smoothed_cross_entropy_without_smoothing_is_plain_cross_entropy():
    logits = randn(3, 5, VOCAB, scale=3.0)
    labels = tf.constant(np.random.default_rng(1).integers(0, VOCAB, size=(3, 5)), tf.int32)
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    got = smoothed_cross_entropy(logits, labels, 0.0)
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def smoothed_target(labels, smoothing, vocab=VOCAB):
    q = np.full(labels.shape + (vocab,), smoothing / (vocab - 1))
    np.put_along_axis(q, labels[..., None], 1.0 - smoothing, axis=-1)
    return q


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_smoothed_cross_entropy_is_the_kl_divergence_from_the_smoothed_target(smoothing):
    logits = randn(4, 6, VOCAB, scale=2.0).numpy()
    labels = np.random.default_rng(2).integers(0, VOCAB, size=(4, 6))
    q = smoothed_target(labels, smoothing)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    kl = (q * (np.log(q) - log_p)).sum(-1)
    got = smoothed_cross_entropy(tf.constant(logits), tf.constant(labels), smoothing).numpy()
    np.testing.assert_allclose(got, kl, rtol=1e-4, atol=1e-5)
    assert (got > 0).all()


@pytest.mark.parametrize("tie", [True, False])
def test_symbol_decoding_top_equals_top_on_one_position(tie):
    mod = _built(SymbolModality(VOCAB, HIDDEN, tie_softmax=tie), (None, None, HIDDEN))
    body = randn(4, HIDDEN)
    logits = mod.decoding_top()(body)
    assert logits.shape == (4, VOCAB) and logits.dtype == tf.float32
    np.testing.assert_allclose(logits.numpy(), mod.top(body[:, tf.newaxis]).numpy()[:, 0],
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_smoothed_cross_entropy_gradient_is_softmax_minus_the_smoothed_target(smoothing):
    """The hand-written gradient equals autodiff's through the textbook formula, with
    per-position weights coming from upstream (as the loss's masking does)."""
    logits = randn(2, 7, VOCAB, scale=3.0)
    labels = tf.constant(np.random.default_rng(4).integers(0, VOCAB, size=(2, 7)), tf.int32)
    weights = tf.constant(np.random.default_rng(5).uniform(size=(2, 7)), tf.float32)
    q = tf.constant(smoothed_target(labels.numpy(), smoothing), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        got = tf.reduce_sum(smoothed_cross_entropy(logits, labels, smoothing) * weights)
        textbook = tf.reduce_sum(
            -tf.reduce_sum(q * tf.nn.log_softmax(logits), axis=-1) * weights)
    expected = (tf.nn.softmax(logits) - q) * weights[..., tf.newaxis]
    np.testing.assert_allclose(tape.gradient(got, logits).numpy(), expected.numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(tape.gradient(got, logits).numpy(),
                               tape.gradient(textbook, logits).numpy(), atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.1, 0.2])
def test_smoothed_cross_entropy_is_zero_for_a_prediction_matching_the_smoothed_target(smoothing):
    labels = np.array([[0, 3, 10], [5, 5, 1]])
    # logits whose softmax is exactly the smoothed one-hot target (any constant offset)
    logits = np.log(smoothed_target(labels, smoothing)) + 7.0
    got = smoothed_cross_entropy(tf.constant(logits, tf.float32), tf.constant(labels), smoothing)
    np.testing.assert_allclose(got.numpy(), 0.0, atol=1e-5)
    # a sharper one-hot prediction of the right label is penalised, a wrong label more so
    one_hot = 20.0 * np.eye(VOCAB)[labels]
    sharp = smoothed_cross_entropy(tf.constant(one_hot, tf.float32), tf.constant(labels),
                                   smoothing).numpy()
    wrong = smoothed_cross_entropy(tf.constant(one_hot, tf.float32),
                                   tf.constant((labels + 1) % VOCAB), smoothing).numpy()
    assert (sharp > 0.1).all() and (wrong > sharp).all()


def test_smoothed_cross_entropy_without_smoothing_is_near_zero_for_a_confident_right_answer():
    labels = np.array([2, 7])
    logits = 30.0 * np.eye(VOCAB)[labels]
    got = smoothed_cross_entropy(tf.constant(logits, tf.float32), tf.constant(labels), 0.0)
    np.testing.assert_allclose(got.numpy(), 0.0, atol=1e-6)


# -- symbol ---------------------------------------------------------------------------------
def _built(modality, input_shape):
    """The modality with its weights, built as its model builds it: ids [batch, length]
    on the inputs side, the body's output [batch, length, hidden] on the targets side."""
    modality.build(input_shape)
    return modality


def test_symbol_bottom_embeds_scales_and_zeroes_pad_ids():
    mod = _built(SymbolModality(VOCAB, HIDDEN), (None, None))
    ids = tf.constant([[3, 5, 0, 0], [1, 0, 0, 0]])
    out = mod.bottom(ids).numpy()
    assert out.shape == (2, 4, HIDDEN)
    emb = mod.embedding.numpy()
    np.testing.assert_allclose(out[0, 0], emb[3] * HIDDEN ** 0.5, rtol=1e-6)
    np.testing.assert_allclose(out[1, 0], emb[1] * HIDDEN ** 0.5, rtol=1e-6)
    assert not out[0, 2:].any() and not out[1, 1:].any()
    assert emb[0].any()        # zero because it is padding, not because the row is zero
    np.testing.assert_array_equal(mod.targets_bottom(ids).numpy(), out)


def test_symbol_top_is_tied_to_the_embedding():
    mod = _built(SymbolModality(VOCAB, HIDDEN), (None, None, HIDDEN))
    body = randn(2, 3, HIDDEN)
    logits = mod.top(body)
    assert logits.shape == (2, 3, VOCAB)
    np.testing.assert_allclose(logits.numpy(), body.numpy() @ mod.embedding.numpy().T,
                               rtol=1e-5, atol=1e-5)
    assert len(mod.trainable_weights) == 1


def test_symbol_top_untied_has_its_own_softmax_weights():
    mod = _built(SymbolModality(VOCAB, HIDDEN, tie_softmax=False), (None, None, HIDDEN))
    body = randn(2, 3, HIDDEN)
    logits = mod.top(body)
    assert logits.shape == (2, 3, VOCAB)
    np.testing.assert_allclose(logits.numpy(), body.numpy() @ mod.softmax_weights.numpy().T,
                               rtol=1e-5, atol=1e-5)
    assert len(mod.trainable_weights) == 2


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_symbol_loss_ignores_pad_positions(smoothing):
    mod = SymbolModality(VOCAB, HIDDEN, label_smoothing=smoothing)
    targets = tf.constant([[4, 6, 1, 0, 0], [2, 1, 0, 0, 0]])
    logits = randn(2, 5, VOCAB, scale=2.0).numpy()
    total, weight = mod.loss(tf.constant(logits), targets)
    assert float(weight) == 5.0
    per_position = smoothed_cross_entropy(tf.constant(logits), targets, smoothing).numpy()
    expected = per_position[0, :3].sum() + per_position[1, :2].sum()
    assert float(total) == pytest.approx(expected, rel=1e-5)
    # whatever the model predicts at pad positions does not change the loss
    logits[0, 3:] = 50.0 * np.random.default_rng(3).normal(size=logits[0, 3:].shape)
    logits[1, 2:] = -40.0
    total2, weight2 = mod.loss(tf.constant(logits), targets)
    assert float(total2) == pytest.approx(float(total), rel=1e-6)
    assert float(weight2) == 5.0
    np.testing.assert_array_equal(mod.targets_weights(targets).numpy(),
                                  [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])


def test_symbol_get_config():
    mod = SymbolModality(VOCAB, HIDDEN, label_smoothing=0.1, tie_softmax=False, name="sym")
    config = mod.get_config()
    assert {k: config[k] for k in ("vocab_size", "hidden_size", "label_smoothing",
                                   "tie_softmax")} == {"vocab_size": VOCAB, "hidden_size": HIDDEN,
                                                       "label_smoothing": 0.1,
                                                       "tie_softmax": False}
    assert SymbolModality.from_config(config).get_config() == config


# -- class_label ------------------------------------------------------------------------------
def test_class_label_shapes_and_loss():
    classes = 5
    mod = _built(ClassLabelModality(classes, HIDDEN), (None, None))   # inputs side
    inputs = tf.constant([[1, 2, 3], [4, 0, 0]])
    assert mod.bottom(inputs).shape == (2, 3, HIDDEN)
    labels = tf.constant([[3], [0]])
    tb = mod.targets_bottom(labels)
    assert tb.shape == (2, 1, HIDDEN) and not tb.numpy().any()    # the body never sees labels
    body = randn(2, 7, HIDDEN)
    logits = mod.top(body)
    assert logits.shape == (2, 1, classes)
    # top mean-pools over length: permuting positions does not change the logits
    np.testing.assert_allclose(mod.top(tf.reverse(body, [1])).numpy(), logits.numpy(),
                               rtol=1e-5, atol=1e-6)
    total, weight = mod.loss(logits, labels)
    assert float(weight) == 2.0
    # label 0 is a real class here (not padding), so both examples count
    expected = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    assert float(total) == pytest.approx(float(tf.reduce_sum(expected)), rel=1e-5)
    np.testing.assert_array_equal(mod.targets_weights(labels).numpy(), [[1], [1]])


def test_class_label_targets_side_has_no_embedding():
    mod = _built(ClassLabelModality(5, HIDDEN), (None, None, HIDDEN))
    assert [w.path.split("/")[-1] for w in mod.trainable_weights] == ["kernel", "bias"]
    assert mod.top(randn(2, 7, HIDDEN)).shape == (2, 1, 5)
    with pytest.raises(ValueError, match="built for targets"):
        mod.bottom(tf.constant([[1, 2]]))


# -- real / identity --------------------------------------------------------------------------
def test_real_shapes_and_l2_loss():
    depth = 3
    mod = _built(RealModality(depth, HIDDEN), (None, None, depth))
    x = randn(2, 4, depth)
    assert mod.bottom(x).shape == (2, 4, HIDDEN)
    out = mod.top(randn(2, 4, HIDDEN, seed=1))
    assert out.shape == (2, 4, depth)
    targets = randn(2, 4, depth, seed=2)
    total, weight = mod.loss(out, targets)
    assert float(weight) == 2 * 4 * depth
    assert float(total) == pytest.approx(float(np.sum((out.numpy() - targets.numpy()) ** 2)),
                                         rel=1e-5)
    total, _ = mod.loss(targets, targets)
    assert float(total) == 0.0
    assert mod.targets_weights(targets).shape == (2, 4)


def test_identity_passes_through():
    mod = _built(IdentityModality(HIDDEN, HIDDEN), (None, None, HIDDEN))
    x = randn(2, 3, HIDDEN)
    np.testing.assert_array_equal(mod.bottom(x).numpy(), x.numpy())
    np.testing.assert_array_equal(mod.top(x).numpy(), x.numpy())
    total, weight = mod.loss(x, x + 1.0)
    assert float(total) == pytest.approx(2 * 3 * HIDDEN) and float(weight) == 2 * 3 * HIDDEN
    assert not mod.trainable_weights

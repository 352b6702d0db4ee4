"""t2tlike/models/transformer.py: hparams sets, position settings, cached decoding."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import helpers
import t2tlike.models  # noqa: F401  (registers the model and its hparams sets)
from t2tlike import precision
from t2tlike.decoding import beam_search
from t2tlike.errors import UserError
from t2tlike.hparams import create_hparams
from t2tlike.t2t_model import T2TModel
from t2tlike.training.benchmark import every_position
from t2tlike.training.trainer import build_model

# pos=none with relative attention, and both: max_relative_position is below the decode
# length, so the clipping of far positions runs too.
RELATIVE = dict(pos="none", self_attention_type="dot_product_relative", max_relative_position=3)
TIMING_RELATIVE = dict(RELATIVE, pos="timing")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def shared_model():
    """shared_model(**overrides): `_model(**overrides)` without dropout, built once per
    module and precision (seeded, so the same whichever test asks first), for the tests
    that only run it (no weight changes)."""
    models = {}

    def get(**overrides):
        overrides = {**helpers.NO_DROPOUT, **overrides}
        key = (precision.resolve(_hparams(**overrides)), tuple(sorted(overrides.items())))
        if key not in models:
            keras.utils.set_random_seed(0)
            models[key] = _model(**overrides)
        return models[key]

    return get


def test_relative_sets_have_t2ts_values():
    rel = create_hparams("transformer_relative")
    assert (rel.pos, rel.self_attention_type, rel.max_relative_position) == \
        ("none", "dot_product_relative", 20)
    assert rel.hidden_size == 512
    tiny = create_hparams("transformer_relative_tiny")
    assert (tiny.hidden_size, tiny.filter_size, tiny.num_heads, tiny.num_hidden_layers) == \
        (128, 512, 4, 2)
    assert create_hparams("transformer_relative_big").hidden_size == 1024
    base = create_hparams("transformer_base")
    assert (base.pos, base.self_attention_type, base.max_relative_position) == \
        ("timing", "dot_product", 0)
    assert base.use_pad_remover is True


def test_pad_remover_leaves_the_training_loss_and_its_gradients_unchanged(shared_model):
    """One model's training loss and gradients with the pad remover (transformer_tiny's
    use_pad_remover=True) and with every position computed, as use_pad_remover=False
    makes its stacks do."""
    off = _model(use_pad_remover=False)
    assert off.encoder.pad_remover is False and off.decoder.pad_remover is False
    model = shared_model()
    stacks = [model.encoder, model.decoder]
    assert all(stack.pad_remover for stack in stacks)
    features = {"inputs": tf.constant([[2, 3, 3, 1, 0, 0], [3, 1, 0, 0, 0, 0]]),
                "targets": tf.constant([[3, 2, 1, 0], [2, 2, 3, 1]])}
    model(features)

    def loss_and_gradients():
        with tf.GradientTape() as tape:
            num, den = model.training_loss(model(features, training=True), features)
        return float(num), float(den), tape.gradient(num, model.trainable_variables)

    num1, den1, grads1 = loss_and_gradients()
    with every_position(model):
        assert not any(stack.pad_remover for stack in stacks)
        num0, den0, grads0 = loss_and_gradients()
    assert den0 == den1 == 7.0
    np.testing.assert_allclose(num1, num0, rtol=1e-6)
    for without, with_pads in zip(grads1, grads0):
        np.testing.assert_allclose(tf.convert_to_tensor(without).numpy(),
                                   tf.convert_to_tensor(with_pads).numpy(),
                                   rtol=1e-4, atol=1e-6)


def _hparams(**overrides):
    return create_hparams("transformer_tiny").replace(
        num_hidden_layers=2, hidden_size=32, filter_size=64, **overrides)


def _model(**overrides):
    hp = _hparams(**overrides)
    problem_hp = helpers.tiny_problem().get_hparams(hp)
    return build_model("transformer", hp, problem_hp)


@pytest.mark.parametrize("cpu_kind, overrides", [
    ("avx2", {}), ("avx2", RELATIVE), ("avx512_bf16", TIMING_RELATIVE),
], indirect=["cpu_kind"])
def test_cached_greedy_decoding_equals_rerunning_the_whole_prefix(cpu_kind, overrides,
                                                                  shared_model):
    """The same ids, scores as close as the precision allows. In float32 (an AVX2 CPU):
    the timing signal (the default) and relative attention (pos=none); in bfloat16 (`auto`
    on a CPU with AVX-512 BF16) both together, which runs every path the other two do."""
    model = shared_model(**overrides)
    assert model.precision == cpu_kind
    tol = 1e-4 if cpu_kind == "none" else 5e-2
    inputs = tf.constant([[3, 2, 3, 3, 1, 0], [2, 2, 3, 2, 3, 1]], tf.int32)
    features = {"inputs": inputs}
    model({"inputs": inputs, "targets": inputs}, training=False)      # builds the weights
    length = model.decode_length(features, extra_length=2)
    fast = _greedy(model.decoding_step_fn, features, length)
    slow = _greedy(lambda f, n, l: T2TModel.decoding_step_fn(model, f, n, l), features, length)
    np.testing.assert_array_equal(fast[0].numpy(), slow[0].numpy())
    np.testing.assert_allclose(fast[1].numpy(), slow[1].numpy(), rtol=tol, atol=tol)


def _greedy(make, features, length):
    step_fn, states, context = make(features, 2, length)
    return beam_search.greedy_search(step_fn, 2, length, states, context=context)


def test_relative_positions_make_the_model_order_aware_without_a_timing_signal(shared_model):
    model = shared_model(**RELATIVE)
    keras.utils.set_random_seed(0)
    plain = _model(pos="none")
    a = tf.constant([[2, 3, 3, 2, 1]], tf.int32)
    b = tf.constant([[3, 2, 3, 2, 1]], tf.int32)          # same multiset, other order
    targets = tf.constant([[2, 2, 1]], tf.int32)
    out = lambda m, x: m({"inputs": x, "targets": targets}, training=False).numpy()
    # without positions the encoder is permutation-invariant: the decoder cannot tell a from b
    np.testing.assert_allclose(out(plain, a), out(plain, b), atol=1e-5)
    assert not np.allclose(out(model, a), out(model, b), atol=1e-3)


@pytest.mark.parametrize("overrides, message", [
    (dict(pos="learned"), "unknown pos 'learned'"),
    (dict(self_attention_type="dot_product_relatve"), "unknown self_attention_type"),
    (dict(self_attention_type="dot_product_relative"), "needs max_relative_position >= 1"),
])
def test_bad_position_settings_are_user_errors(overrides, message):
    with pytest.raises(UserError, match=message):
        _model(**overrides)


def test_t2t_style_pos_none_is_accepted():
    hp = create_hparams("transformer_relative_tiny")
    hp.pos = None                     # as a T2T hparams function writes it
    model = build_model("transformer", hp, helpers.tiny_problem().get_hparams(hp))
    assert not model.use_timing


def test_features_of_the_wrong_rank_are_one_clear_error():
    model = _model()
    with pytest.raises(ValueError, match=r"features\['inputs'\] must be ids \[batch, length\]"):
        model({"inputs": tf.constant([3, 1]), "targets": tf.constant([[3, 1]])})


def test_transformer_tiny_reverse_is_the_measured_reversal_setting():
    """docs/benchmarks.md measures exactly these overrides of transformer_tiny (100% at
    8,000 steps); the registered set must not drift from them."""
    overrides = ("self_attention_type=dot_product_relative,max_relative_position=40,"
                 "layer_prepostprocess_dropout=0.0,attention_dropout=0.0,relu_dropout=0.0,"
                 "batch_size=1024,learning_rate_warmup_steps=1000,learning_rate_constant=1.0")
    assert create_hparams("transformer_tiny_reverse") == \
        create_hparams("transformer_tiny", overrides)

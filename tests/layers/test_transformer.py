"""t2tlike/layers/transformer.py: encoder/decoder stacks and incremental decoding."""
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.layers.transformer import (DecoderLayer, DecoderStack, EncoderLayer, EncoderStack,
                                        FeedForward, nonpad_rows)

STACK = dict(num_layers=2, hidden_size=16, num_heads=4, filter_size=32)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def randn(*shape, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def test_feed_forward_shape():
    ffn = FeedForward(16, 64)
    assert ffn(randn(2, 3, 16)).shape == (2, 3, 16)
    assert ffn.inner.kernel.shape == (16, 64) and ffn.outer.kernel.shape == (64, 16)


def test_feed_forward_on_the_tokens_only_gives_their_outputs_and_zeros_at_pads():
    ffn = FeedForward(16, 32)
    x = randn(2, 5, 16)
    mask = tf.constant([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], tf.float32)
    rows = nonpad_rows(mask)
    assert rows.numpy().ravel().tolist() == [0, 1, 2, 5, 6, 7, 8, 9]
    full, packed = ffn(x).numpy(), ffn(x, rows=rows).numpy()
    tokens = mask.numpy() > 0
    np.testing.assert_allclose(packed[tokens], full[tokens], rtol=1e-5, atol=1e-6)
    assert np.all(packed[~tokens] == 0)


@pytest.mark.parametrize("stack", ["encoder", "decoder"])
def test_pad_remover_changes_no_token_output_nor_gradient_in_training(stack):
    mask = tf.constant([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]], tf.float32)
    x, memory = randn(2, 6, 16), randn(2, 4, 16, seed=1)
    outputs, grads = [], []
    for pad_remover in (False, True):
        keras.utils.set_random_seed(0)
        if stack == "encoder":
            layer = EncoderStack(**STACK, dropout=0.0, attention_dropout=0.0,
                                 relu_dropout=0.0, pad_remover=pad_remover)
            run = lambda: layer(x, mask, training=True)   # noqa: E731
        else:
            layer = DecoderStack(**STACK, dropout=0.0, attention_dropout=0.0,
                                 relu_dropout=0.0, pad_remover=pad_remover)
            run = lambda: layer(x, memory, memory_mask=tf.ones([2, 4]),   # noqa: E731
                                training=True, targets_mask=mask)
        with tf.GradientTape() as tape:
            out = run()
            loss = tf.reduce_sum(out * mask[..., tf.newaxis] * randn(2, 6, 16, seed=2))
        outputs.append(out.numpy()[mask.numpy() > 0])
        grads.append([g.numpy() for g in tape.gradient(loss, layer.trainable_variables)])
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)
    for with_pads, without in zip(*grads):
        np.testing.assert_allclose(without, with_pads, rtol=1e-4, atol=1e-5)


def test_encoder_stack_shape_and_layer_count():
    enc = EncoderStack(**STACK)
    out = enc(randn(2, 5, 16), mask=tf.ones([2, 5]))
    assert out.shape == (2, 5, 16)
    assert len(enc.stack) == 2


def test_encoder_stack_call_with_mask_does_not_warn():
    enc = EncoderStack(**STACK)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        enc(randn(2, 5, 16), mask=tf.ones([2, 5]))
    assert not [w for w in caught if "mask" in str(w.message)]


def test_encoder_ignores_padded_positions():
    enc = EncoderStack(**STACK)
    mask = tf.constant([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    x = randn(2, 6, 16).numpy()
    out = enc(tf.constant(x), mask=mask).numpy()
    x[0, 4:] = 30.0
    x[1, 2:] = -7.0
    out2 = enc(tf.constant(x), mask=mask).numpy()
    np.testing.assert_allclose(out2[0, :4], out[0, :4], atol=1e-5)
    np.testing.assert_allclose(out2[1, :2], out[1, :2], atol=1e-5)


def test_decoder_stack_shapes():
    dec = DecoderStack(**STACK)
    out = dec(randn(2, 4, 16), randn(2, 7, 16, seed=1), memory_mask=tf.ones([2, 7]))
    assert out.shape == (2, 4, 16)
    no_memory = DecoderStack(**STACK, has_memory=False)
    assert no_memory(randn(3, 5, 16)).shape == (3, 5, 16)
    assert not hasattr(no_memory.stack[0], "encdec_attention")


def test_decoder_is_causal_and_ignores_padded_memory():
    dec = DecoderStack(**STACK)
    x = randn(2, 5, 16).numpy()
    memory = randn(2, 6, 16, seed=1).numpy()
    mask = tf.constant([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    out = dec(tf.constant(x), tf.constant(memory), memory_mask=mask).numpy()
    x[:, 3:] = 9.0                    # later target positions
    memory[1, 3:] = -9.0              # padded memory positions
    out2 = dec(tf.constant(x), tf.constant(memory), memory_mask=mask).numpy()
    np.testing.assert_allclose(out2[:, :3], out[:, :3], atol=1e-5)
    assert not np.allclose(out2[:, 3:], out[:, 3:], atol=1e-3)


@pytest.mark.parametrize("has_memory, relative", [(True, 0), (False, 0), (True, 3)])
def test_incremental_step_with_init_cache_reproduces_the_full_decoder(has_memory, relative):
    batch, tgt_len, in_len = 2, 6, 5
    dec = DecoderStack(**STACK, has_memory=has_memory, dropout=0.1, attention_dropout=0.1,
                       relu_dropout=0.1,      # dropout is off at inference in both paths
                       max_relative_position=relative)
    x = randn(batch, tgt_len, 16)
    memory = randn(batch, in_len, 16, seed=1) if has_memory else None
    mask = tf.constant([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]) if has_memory else None
    full = dec(x, memory, memory_mask=mask, training=False).numpy()

    cache = dec.init_cache(batch)
    assert len(cache) == STACK["num_layers"]
    assert cache[0]["self"]["k"].shape == (batch, 4, 0, 4)
    memory_kv = dec.memory_keys_values(memory) if has_memory else None
    for t in range(tgt_len):
        y, cache = dec.step(x[:, t], cache, memory_kv, memory_mask=mask)
        assert y.shape == (batch, 16)
        assert cache[0]["self"]["k"].shape == (batch, 4, t + 1, 4)
        np.testing.assert_allclose(y.numpy(), full[:, t], atol=1e-4, rtol=1e-4)


def test_incremental_step_inside_tf_function():
    batch, tgt_len = 1, 4
    dec = DecoderStack(**STACK)
    x = randn(batch, tgt_len, 16)
    memory = randn(batch, 3, 16, seed=1)
    full = dec(x, memory).numpy()
    step = tf.function(dec.step, reduce_retracing=True)
    cache = dec.init_cache(batch)
    memory_kv = dec.memory_keys_values(memory)
    for t in range(tgt_len):
        y, cache = step(x[:, t], cache, memory_kv)
        np.testing.assert_allclose(y.numpy(), full[:, t], atol=1e-4, rtol=1e-4)


def test_dropout_only_when_training():
    enc = EncoderStack(**STACK, dropout=0.5)
    x, mask = randn(2, 5, 16), tf.ones([2, 5])
    a = enc(x, mask=mask).numpy()
    np.testing.assert_array_equal(a, enc(x, mask=mask, training=False).numpy())
    assert not np.allclose(a, enc(x, mask=mask, training=True).numpy())


@pytest.mark.parametrize("cls, kwargs", [
    (EncoderStack, STACK),
    (EncoderStack, {**STACK, "max_relative_position": 4}),
    (EncoderStack, {**STACK, "pad_remover": True}),
    (DecoderStack, {**STACK, "pad_remover": True}),
    (DecoderStack, {**STACK, "has_memory": False}),
    (DecoderStack, {**STACK, "max_relative_position": 4}),
    (EncoderLayer, dict(hidden_size=16, num_heads=4, filter_size=32, dropout=0.2)),
    (DecoderLayer, dict(hidden_size=16, num_heads=4, filter_size=32, has_memory=False)),
    (FeedForward, dict(hidden_size=16, filter_size=32, relu_dropout=0.3)),
])
def test_get_config_mirrors_init(cls, kwargs):
    layer = cls(**kwargs, name="x")
    config = layer.get_config()
    for key, value in kwargs.items():
        assert config[key] == value
    assert cls.from_config(config).get_config() == config


def test_checkpoint_holds_every_weight(tmp_path):
    """tf.train.Checkpoint must see every sublayer's weights (not only the top level)."""
    enc, dec = EncoderStack(**STACK), DecoderStack(**STACK)
    x = tf.random.normal([2, 5, 16])
    mask = tf.ones([2, 5])
    dec(x, enc(x, mask), memory_mask=mask)
    path = tf.train.Checkpoint(enc=enc, dec=dec).save(str(tmp_path / "ckpt"))
    saved = [name for name, _ in tf.train.list_variables(path) if "/.ATTRIBUTES/" in name
             and not name.startswith("save_counter")]
    assert len(saved) == len(enc.weights) + len(dec.weights)


@pytest.mark.parametrize("stack", ["encoder", "decoder", "decoder_without_memory"])
def test_a_stack_builds_from_a_shape_the_weights_its_first_call_creates(stack):
    """build((None, None, hidden)) creates every weight of every layer, in the order (so
    with the values, under one seed) that a first call creates them; Keras then needs no
    symbolic run of the call to build the stack."""
    def make():
        keras.utils.set_random_seed(0)
        if stack == "encoder":
            return EncoderStack(**STACK, max_relative_position=2)
        return DecoderStack(**STACK, has_memory=stack == "decoder")

    def run(layer):
        if stack == "encoder":
            return layer(randn(2, 5, 16), mask=tf.ones([2, 5]))
        if stack == "decoder":
            return layer(randn(2, 4, 16), randn(2, 7, 16, seed=1), memory_mask=tf.ones([2, 7]))
        return layer(randn(2, 4, 16))

    built = make()
    built.build((None, None, 16))
    assert built.built and all(layer.built for layer in built.stack)
    called = make()
    run(called)
    path = lambda v: v.path.split("/", 1)[1]   # noqa: E731  (without the stack's own name)
    assert [path(v) for v in built.weights] == [path(v) for v in called.weights]
    for mine, theirs in zip(built.weights, called.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    np.testing.assert_allclose(run(built).numpy(), run(called).numpy(), rtol=1e-6, atol=1e-6)

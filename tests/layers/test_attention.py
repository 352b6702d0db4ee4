"""t2tlike/layers/attention.py: shapes, padding and causal masks, cached decoding steps."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.layers import attention
from t2tlike.layers.attention import MultiHeadAttention

HIDDEN, HEADS = 16, 4


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def randn(*shape, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def test_padding_bias():
    bias = attention.padding_bias(tf.constant([[1, 1, 0], [1, 0, 0]]))
    assert bias.shape == (2, 1, 1, 3)
    np.testing.assert_array_equal(bias[:, 0, 0].numpy(),
                                  [[0, 0, attention.NEG_INF], [0, attention.NEG_INF,
                                                               attention.NEG_INF]])


def test_causal_bias():
    bias = attention.causal_bias(4)
    assert bias.shape == (1, 1, 4, 4)
    allowed = bias[0, 0].numpy() == 0
    np.testing.assert_array_equal(allowed, np.tril(np.ones((4, 4), bool)))
    assert (bias[0, 0].numpy()[~allowed] == attention.NEG_INF).all()


def test_self_and_cross_attention_shapes():
    layer = MultiHeadAttention(HIDDEN, HEADS)
    x = randn(2, 5, HIDDEN)
    assert layer(x).shape == (2, 5, HIDDEN)
    cross = MultiHeadAttention(HIDDEN, HEADS)
    memory = randn(2, 7, HIDDEN, seed=1)
    assert cross(x, memory).shape == (2, 5, HIDDEN)
    k, v = cross.keys_values(memory)
    assert k.shape == v.shape == (2, HEADS, 7, HIDDEN // HEADS)


def test_split_and_combine_heads_are_inverse():
    layer = MultiHeadAttention(HIDDEN, HEADS)
    x = randn(3, 5, HIDDEN)
    heads = layer.split_heads(x)
    assert heads.shape == (3, HEADS, 5, HIDDEN // HEADS)
    np.testing.assert_array_equal(layer.combine_heads(heads).numpy(), x.numpy())
    # head h holds channels [h * depth, (h + 1) * depth)
    np.testing.assert_array_equal(heads[:, 1].numpy(), x[:, :, 4:8].numpy())


def test_hidden_size_must_divide_into_heads():
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(10, 4)


def test_padding_bias_masks_memory_positions():
    layer = MultiHeadAttention(HIDDEN, HEADS)
    x = randn(2, 3, HIDDEN)
    mask = tf.constant([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    memory = randn(2, 5, HIDDEN, seed=1).numpy()
    out = layer(x, tf.constant(memory), bias=attention.padding_bias(mask))
    changed = memory.copy()
    changed[0, 3:] = 100.0 * np.random.default_rng(5).normal(size=changed[0, 3:].shape)
    changed[1, 2:] = -50.0
    out_changed = layer(x, tf.constant(changed), bias=attention.padding_bias(mask))
    np.testing.assert_allclose(out.numpy(), out_changed.numpy(), atol=1e-6)
    # and the unmasked positions do matter
    changed[0, 0] += 1.0
    out_changed = layer(x, tf.constant(changed), bias=attention.padding_bias(mask))
    assert not np.allclose(out[0].numpy(), out_changed[0].numpy(), atol=1e-4)


def test_causal_bias_makes_position_i_independent_of_later_positions():
    layer = MultiHeadAttention(HIDDEN, HEADS)
    n = 6
    x = randn(2, n, HIDDEN).numpy()
    full = layer(tf.constant(x), bias=attention.causal_bias(n)).numpy()
    for i in range(n - 1):
        changed = x.copy()
        changed[:, i + 1:] = np.random.default_rng(i).normal(size=changed[:, i + 1:].shape) * 10
        out = layer(tf.constant(changed), bias=attention.causal_bias(n)).numpy()
        np.testing.assert_allclose(out[:, :i + 1], full[:, :i + 1], atol=1e-5)
        assert not np.allclose(out[:, i + 1:], full[:, i + 1:], atol=1e-4)


@pytest.mark.parametrize("max_relative_position", [0, 2])
def test_step_with_a_growing_cache_equals_full_causal_attention(max_relative_position):
    layer = MultiHeadAttention(HIDDEN, HEADS, max_relative_position=max_relative_position)
    n, batch = 6, 2
    x = randn(batch, n, HIDDEN)
    full = layer(x, bias=attention.causal_bias(n)).numpy()
    depth = HIDDEN // HEADS
    cache = {"k": tf.zeros([batch, HEADS, 0, depth]), "v": tf.zeros([batch, HEADS, 0, depth])}
    for t in range(n):
        out, cache = layer.step(x[:, t], cache)
        assert out.shape == (batch, HIDDEN)
        assert cache["k"].shape == (batch, HEADS, t + 1, depth)
        np.testing.assert_allclose(out.numpy(), full[:, t], atol=1e-5)
    # the cache holds every position's keys, as computed on the full sequence
    k_full, v_full = layer.keys_values(x)
    np.testing.assert_allclose(cache["k"].numpy(), k_full.numpy(), atol=1e-6)
    np.testing.assert_allclose(cache["v"].numpy(), v_full.numpy(), atol=1e-6)


def test_step_runs_in_a_while_loop_with_a_free_cache_length():
    layer = MultiHeadAttention(HIDDEN, HEADS)
    x = randn(1, 3, HIDDEN)
    full = layer(x, bias=attention.causal_bias(3)).numpy()
    empty = tf.zeros([1, HEADS, 0, HIDDEN // HEADS])

    @tf.function
    def decode():
        def body(t, outs, cache):
            out, cache = layer.step(tf.gather(x, t, axis=1), cache)
            return t + 1, outs.write(t, out), cache
        free = tf.TensorShape([1, HEADS, None, HIDDEN // HEADS])
        _, outs, _ = tf.while_loop(
            lambda t, *_: t < 3, body,
            [tf.constant(0), tf.TensorArray(tf.float32, size=3), {"k": empty, "v": empty}],
            shape_invariants=[tf.TensorShape([]), None, {"k": free, "v": free}])
        return tf.transpose(outs.stack(), [1, 0, 2])

    np.testing.assert_allclose(decode().numpy(), full, atol=1e-5)


def test_dropout_only_when_training():
    layer = MultiHeadAttention(HIDDEN, HEADS, dropout=0.5)
    x = randn(2, 5, HIDDEN)
    a = layer(x, training=False).numpy()
    np.testing.assert_array_equal(a, layer(x, training=False).numpy())
    assert not np.allclose(a, layer(x, training=True).numpy())


def test_get_config_round_trip():
    layer = MultiHeadAttention(HIDDEN, HEADS, dropout=0.25, name="att")
    config = layer.get_config()
    assert config["hidden_size"] == HIDDEN and config["num_heads"] == HEADS
    assert config["dropout"] == 0.25
    clone = MultiHeadAttention.from_config(config)
    assert clone.name == "att" and clone.get_config() == config


def test_relative_ids_clip_the_distance_key_minus_query():
    ids = attention.relative_ids(3, 4, max_relative_position=1).numpy()
    # row i, column j: clip(j - i, -1, 1) + 1
    np.testing.assert_array_equal(ids, [[1, 2, 2, 2], [0, 1, 2, 2], [0, 0, 1, 2]])
    # a single query at position 2 (incremental decoding) sees the same row as above
    np.testing.assert_array_equal(attention.relative_ids(1, 4, 1, q_start=2).numpy(), ids[2:])


def test_relative_attention_depends_on_distance_not_on_absolute_position():
    layer = MultiHeadAttention(HIDDEN, HEADS, max_relative_position=3)
    x = randn(1, 4, HIDDEN)
    out = layer(x).numpy()
    assert {w.name for w in layer.weights} >= {"relative_keys", "relative_values"}
    # shifting the whole sequence right by two pad-masked positions changes nothing
    padded = tf.concat([tf.zeros([1, 2, HIDDEN]), x], axis=1)
    bias = attention.padding_bias(tf.constant([[0, 0, 1, 1, 1, 1]]))
    np.testing.assert_allclose(layer(padded, bias=bias).numpy()[:, 2:], out, atol=1e-5)
    # but the same tokens in another order attend differently (no permutation invariance)
    plain = MultiHeadAttention(HIDDEN, HEADS)
    rev = x[:, ::-1]
    np.testing.assert_allclose(plain(rev).numpy()[:, ::-1], plain(x).numpy(), atol=1e-5)
    assert not np.allclose(layer(rev).numpy()[:, ::-1], out, atol=1e-3)


def test_relative_get_config_round_trip():
    layer = MultiHeadAttention(HIDDEN, HEADS, max_relative_position=5, name="att")
    clone = MultiHeadAttention.from_config(layer.get_config())
    assert clone.max_relative_position == 5


@pytest.mark.parametrize("group", [1, 3])
def test_grouped_attention_equals_attending_to_a_copy_of_the_memory_per_row(group):
    layer = MultiHeadAttention(HIDDEN, HEADS)
    memory = randn(2, 5, HIDDEN, seed=1)
    mask = tf.constant([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], tf.float32)
    query = randn(2 * group, 1, HIDDEN, seed=2)
    layer(memory, memory)                                    # builds the weights
    k, v = layer.keys_values(memory)
    grouped = layer.attend_grouped(query[:, 0], k, v, bias=attention.padding_bias(mask))
    copied_k, copied_v = layer.keys_values(tf.repeat(memory, group, axis=0))
    copied = layer.attend(query, copied_k, copied_v,
                          bias=attention.padding_bias(tf.repeat(mask, group, axis=0)))
    assert grouped.shape == (2 * group, HIDDEN)
    np.testing.assert_allclose(grouped.numpy(), copied.numpy()[:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("transpose_b", [True, False])
def test_heads_matmul_and_its_gradients_equal_tf_matmul_bit_for_bit(transpose_b):
    a, b = randn(2, 3, 5, 4, seed=1), randn(2, 3, 6, 4, seed=2)
    if not transpose_b:
        a = randn(2, 3, 5, 6, seed=1)
    upstream = randn(2, 3, 5, 6 if transpose_b else 4, seed=3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([a, b])
        ours = attention.heads_matmul(a, b, transpose_b=transpose_b)
        ref = tf.matmul(a, b, transpose_b=transpose_b)
        loss_ours, loss_ref = tf.reduce_sum(ours * upstream), tf.reduce_sum(ref * upstream)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    for got, want in zip(tape.gradient(loss_ours, [a, b]), tape.gradient(loss_ref, [a, b])):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_training_gradients_are_those_of_plain_matmuls():
    layer = MultiHeadAttention(HIDDEN, HEADS)
    x = randn(2, 5, HIDDEN, seed=4)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        trained = tf.reduce_sum(layer(x, training=True) ** 2)
        plain = tf.reduce_sum(layer(x, training=False) ** 2)   # layer's dropout is 0
    weights = [x] + layer.trainable_weights
    for got, want in zip(tape.gradient(trained, weights), tape.gradient(plain, weights)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)

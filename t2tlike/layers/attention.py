"""Multi-head dot-product attention, with a growing cache for incremental decoding.

Shapes: queries [batch, q_len, hidden], memory [batch, kv_len, hidden]; `bias` is added
to the logits and broadcasts to [batch, heads, q_len, kv_len] (0 = attend, -1e9 = not).
With `max_relative_position` > 0 the attention also sees where each key is relative to its
query (Shaw, Uszkoreit & Vaswani, 2018; T2T's "dot_product_relative"): learned embeddings
of the clipped distance j - i, one table for keys and one for values, shared by the heads,
are added to the logits (q_i . a^K_ij) and to the output (sum_j w_ij a^V_ij).

The incremental-decoding cache holds the keys and values of the positions decoded so far
and grows by one position per step, so step t costs O(t), not O(maximum length): a
preallocated maximum-length cache would make every step (and the beam reordering of the
cache) pay for positions not decoded yet.
"""
import keras
import tensorflow as tf

from t2tlike.layers.dense import Dense
from t2tlike.layers.dropout import Dropout

NEG_INF = -1e9


def heads_matmul(a, b, transpose_b=False):
    """tf.matmul(a, b, transpose_b=...) of [batch, heads, ...] operands with the same batch
    and heads: its gradient is tf.matmul's two matmuls, less the shape ops and reductions
    TensorFlow adds for batch dimensions that might broadcast (some dozen per matmul
    when the batch and length are not static)."""

    @tf.custom_gradient
    def forward(a, b):
        def grad(dy):
            if transpose_b:    # y = a b^T
                return tf.matmul(dy, b), tf.matmul(dy, a, transpose_a=True)
            return tf.matmul(dy, b, transpose_b=True), tf.matmul(a, dy, transpose_a=True)

        return tf.matmul(a, b, transpose_b=transpose_b), grad

    return forward(a, b)


def padding_bias(mask):
    """[batch, length] with 1 = token, 0 = pad -> bias [batch, 1, 1, length]."""
    mask = tf.cast(mask, tf.float32)
    return ((1.0 - mask) * NEG_INF)[:, tf.newaxis, tf.newaxis, :]


def causal_bias(length):
    """[1, 1, length, length]: position i may attend to positions <= i."""
    allowed = tf.linalg.band_part(tf.ones([length, length]), -1, 0)
    return ((1.0 - allowed) * NEG_INF)[tf.newaxis, tf.newaxis]


def relative_ids(q_len, kv_len, max_relative_position, q_start=0):
    """[q_len, kv_len] indices into a relative-position table of 2 * max + 1 rows: query
    i (at position q_start + i) and key j (at position j) get clip(j - q_start - i, -max,
    max) + max."""
    q_pos = tf.range(q_len) + q_start
    distance = tf.range(kv_len)[tf.newaxis, :] - q_pos[:, tf.newaxis]
    return tf.clip_by_value(distance, -max_relative_position, max_relative_position) \
        + max_relative_position


class MultiHeadAttention(keras.layers.Layer):
    """Scaled dot-product attention over `num_heads` heads, without biases (as T2T);
    relative-position aware when `max_relative_position` > 0 (self-attention only)."""

    def __init__(self, hidden_size, num_heads, dropout=0.0, max_relative_position=0, **kwargs):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.dropout = dropout
        self.depth = hidden_size // num_heads
        self.max_relative_position = int(max_relative_position or 0)
        dense = dict(use_bias=False, kernel_initializer="glorot_uniform", dtype=self.dtype_policy)
        self.q_dense = Dense(hidden_size, name="q", **dense)
        self.k_dense = Dense(hidden_size, name="k", **dense)
        self.v_dense = Dense(hidden_size, name="v", **dense)
        self.o_dense = Dense(hidden_size, name="output_transform", **dense)
        self.drop = Dropout(dropout, dtype=self.dtype_policy)

    def build(self, query_shape, memory_shape=None):
        self.q_dense.build(query_shape)
        self.k_dense.build(memory_shape or query_shape)
        self.v_dense.build(memory_shape or query_shape)
        self.o_dense.build(query_shape)
        if self.max_relative_position:
            rows = 2 * self.max_relative_position + 1
            init = keras.initializers.RandomNormal(stddev=self.depth ** -0.5)
            self.relative_keys = self.add_weight(name="relative_keys", shape=(rows, self.depth),
                                                 initializer=init)
            self.relative_values = self.add_weight(name="relative_values",
                                                   shape=(rows, self.depth), initializer=init)

    def split_heads(self, x):
        """[batch, length, hidden] -> [batch, heads, length, depth]."""
        x = tf.reshape(x, tf.concat([tf.shape(x)[:2], [self.num_heads, self.depth]], 0))
        return tf.transpose(x, [0, 2, 1, 3])

    def combine_heads(self, x):
        """[batch, heads, length, depth] -> [batch, length, hidden]."""
        x = tf.transpose(x, [0, 2, 1, 3])
        return tf.reshape(x, tf.concat([tf.shape(x)[:2], [self.hidden_size]], 0))

    def keys_values(self, memory):
        """memory [batch, kv_len, hidden] -> (k, v), each [batch, heads, kv_len, depth]."""
        return self.split_heads(self.k_dense(memory)), self.split_heads(self.v_dense(memory))

    def attend(self, query, k, v, bias=None, training=False, q_start=0):
        """q_start: the position of the first query (relative attention in decoding)."""
        q = self.split_heads(self.q_dense(query)) * (self.depth ** -0.5)
        return self.o_dense(self.combine_heads(self._attend_heads(q, k, v, bias, training,
                                                                  q_start)))

    def _attend_heads(self, q, k, v, bias=None, training=False, q_start=0):
        """q [batch, heads, q_len, depth], already scaled; k, v [batch, heads, kv_len, depth]
        -> the attention's output per head, [batch, heads, q_len, depth]."""
        matmul = heads_matmul if training else tf.matmul
        logits = matmul(q, k, transpose_b=True)           # [batch, heads, q_len, kv_len]
        if self.max_relative_position:
            ids = relative_ids(tf.shape(q)[2], tf.shape(k)[2], self.max_relative_position,
                               q_start)
            rel_k = tf.cast(tf.gather(self.relative_keys, ids), q.dtype)   # [q, kv, depth]
            rel_v = tf.cast(tf.gather(self.relative_values, ids), q.dtype)
            logits += tf.einsum("bhqd,qkd->bhqk", q, rel_k)
        if bias is not None:
            # Broadcast explicitly: on CPU, oneDNN fuses matmul + add, and its fused kernel
            # is >10x slower when the added bias broadcasts over the batch dimension (the
            # [1, 1, q, k] causal bias); the plain add of a full-shape bias is cheap.
            logits += tf.broadcast_to(tf.cast(bias, logits.dtype), tf.shape(logits))
        weights = tf.nn.softmax(logits)
        weights = self.drop(weights, training=training)
        out = matmul(weights, v)
        if self.max_relative_position:
            out += tf.einsum("bhqk,qkd->bhqd", weights, rel_v)
        return out

    def attend_grouped(self, query, k, v, bias=None):
        """Decoding-step attention to a memory shared by groups of rows: query [n, hidden]
        (one position per row) where rows j*g .. j*g + g - 1 (g = n / m: a batch entry's
        beams) attend to memory row j of k, v [m, heads, kv_len, depth] (bias [m, 1, 1,
        kv_len]) -> [n, hidden]. The group's queries become one row of g queries, so the
        memory is neither copied per beam nor gathered when beams are reordered; the
        projections run on [n, hidden] as plain 2-D matmuls."""
        n, m = tf.shape(query)[0], tf.shape(k)[0]
        q = tf.reshape(self.q_dense(query), [m, n // m, self.hidden_size])
        q = self.split_heads(q) * (self.depth ** -0.5)
        out = self.combine_heads(self._attend_heads(q, k, v, bias))      # [m, g, hidden]
        return self.o_dense(tf.reshape(out, [n, self.hidden_size]))

    def call(self, query, memory=None, bias=None, training=False):
        """query [batch, q_len, hidden]; memory [batch, kv_len, hidden] (None:
        self-attention over the query); bias broadcastable to [batch, heads, q_len, kv_len]
        (padding_bias / causal_bias) -> [batch, q_len, hidden]."""
        for name, x in (("query", query), ("memory", memory)):
            if x is not None and x.shape.rank is not None and x.shape.rank != 3:
                raise ValueError(f"MultiHeadAttention: {name} must be [batch, length, hidden], "
                                 f"got shape {x.shape}.")
        k, v = self.keys_values(query if memory is None else memory)
        return self.attend(query, k, v, bias, training)

    def qkv_kernel(self):
        """The query, key and value projections as one [hidden, 3 * hidden] kernel, in the
        compute dtype (for `step`; a decoding loop computes it once, outside the loop)."""
        return tf.cast(tf.concat([self.q_dense.kernel, self.k_dense.kernel,
                                  self.v_dense.kernel], axis=1), self.compute_dtype)

    def step(self, query, cache, qkv_kernel=None):
        """One self-attention decoding step.

        query [batch, hidden], one position per row; cache {"k", "v"}: [batch, heads, t,
        depth], the keys and values of the t positions before this one (t = 0 at the first
        step). Appends this position's and attends to all t + 1. Returns (output [batch,
        hidden], new cache). The query, key and value projections run as one matmul, with
        `qkv_kernel()` (computed here when not given).
        """
        b = tf.shape(query)[0]
        kernel = self.qkv_kernel() if qkv_kernel is None else qkv_kernel
        qkv = tf.matmul(query, kernel)                               # [batch, 3 * hidden]
        q, k_new, v_new = tf.unstack(
            tf.reshape(qkv, [b, 3, self.num_heads, 1, self.depth]), axis=1)
        position = tf.shape(cache["k"])[2]
        k = tf.concat([cache["k"], k_new], axis=2)
        v = tf.concat([cache["v"], v_new], axis=2)
        out = self._attend_heads(q * (self.depth ** -0.5), k, v, q_start=position)
        return self.o_dense(tf.reshape(out, [b, self.hidden_size])), {"k": k, "v": v}

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                      dropout=self.dropout, max_relative_position=self.max_relative_position)
        return config

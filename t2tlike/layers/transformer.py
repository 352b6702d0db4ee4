"""Transformer encoder and decoder stacks (pre-norm, as T2T: "n" before, "da" after).

Each sublayer is x + dropout(sublayer(layer_norm(x))); a final layer norm closes the
stack. Every layer passes its own dtype policy down to the sublayers it creates
(`dtype=self.dtype_policy`; the stacks and layers in `__init__`, FeedForward and
MultiHeadAttention their dense layers in `build`), so a stack created under a mixed policy
computes in it whatever the global policy is when it is called.

The decoder also runs one position at a time for incremental decoding: `init_cache` gives
the (empty, growing) self-attention caches, `memory_keys_values` the encoder memory's keys
and values computed once, and `step` decodes one position.
"""
import keras
import tensorflow as tf

from t2tlike.layers.attention import MultiHeadAttention, causal_bias, padding_bias
from t2tlike.layers.dense import Dense
from t2tlike.layers.dropout import Dropout
from t2tlike.layers.normalization import LayerNorm


def _check_rank(layer, **tensors):
    """Raises ValueError naming the tensor whose static rank is not the expected one;
    tensors: name=(tensor or None, rank)."""
    for name, (tensor, rank) in tensors.items():
        if tensor is not None and tensor.shape.rank is not None and tensor.shape.rank != rank:
            raise ValueError(f"{layer}: {name} must have rank {rank}, got shape {tensor.shape}.")


def nonpad_rows(mask):
    """mask [batch, len] (1 = token, 0 = pad) -> int64 [tokens, 1]: the flat positions
    (batch * len + position) of the tokens, FeedForward's `rows`."""
    return tf.where(tf.reshape(mask, [-1]) > 0)


class FeedForward(keras.layers.Layer):
    """dense(filter_size, relu) -> dropout -> dense(hidden_size).

    With `rows` (nonpad_rows of the padding mask) only the tokens go through the network
    and the pads' outputs are 0, as T2T's PadRemover: a position-wise network's output at
    a token does not depend on the pads, and a pad's output reaches no token (attention
    masks pads as keys; causal self-attention lets only later positions, pads too, see it).
    """

    def __init__(self, hidden_size, filter_size, relu_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.filter_size, self.relu_dropout = hidden_size, filter_size, relu_dropout
        self.inner = Dense(filter_size, activation="relu", name="conv1", dtype=self.dtype_policy)
        self.outer = Dense(hidden_size, name="conv2", dtype=self.dtype_policy)
        self.drop = Dropout(relu_dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.outer.build(tuple(input_shape[:-1]) + (self.filter_size,))

    def call(self, x, training=False, rows=None):
        """x [batch, len, hidden] -> [batch, len, hidden]; rows: see the class docstring."""
        if rows is None:
            return self.outer(self.drop(self.inner(x), training=training))
        flat = tf.reshape(x, [-1, self.hidden_size])
        y = self.outer(self.drop(self.inner(tf.gather_nd(flat, rows)), training=training))
        y = tf.reshape(tf.scatter_nd(rows, y, tf.shape(flat, out_type=tf.int64)), tf.shape(x))
        y.set_shape(x.shape)
        return y

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, filter_size=self.filter_size,
                      relu_dropout=self.relu_dropout)
        return config


class EncoderLayer(keras.layers.Layer):
    """One pre-norm encoder layer: self-attention, then the feed-forward network."""

    def __init__(self, hidden_size, num_heads, filter_size, dropout=0.1, attention_dropout=0.1,
                 relu_dropout=0.1, max_relative_position=0, **kwargs):
        super().__init__(**kwargs)
        sub = dict(dtype=self.dtype_policy)   # sublayers compute in this layer's policy
        self.config_ = dict(hidden_size=hidden_size, num_heads=num_heads, filter_size=filter_size,
                            dropout=dropout, attention_dropout=attention_dropout,
                            relu_dropout=relu_dropout, max_relative_position=max_relative_position)
        self.self_attention = MultiHeadAttention(hidden_size, num_heads, attention_dropout,
                                                 max_relative_position, name="self_attention",
                                                 **sub)
        self.ffn = FeedForward(hidden_size, filter_size, relu_dropout, name="ffn", **sub)
        self.norm1 = LayerNorm(epsilon=1e-6, name="norm_attention", **sub)
        self.norm2 = LayerNorm(epsilon=1e-6, name="norm_ffn", **sub)
        self.drop = Dropout(dropout, **sub)

    def build(self, input_shape):
        """Weights from x's shape [batch, len, hidden], in the order of `call` (without
        a build, Keras would trace the whole call symbolically to create them)."""
        self.norm1.build(input_shape)
        self.self_attention.build(input_shape)
        self.norm2.build(input_shape)
        self.ffn.build(input_shape)

    def call(self, x, bias, training=False, rows=None):
        """x [batch, len, hidden]; bias [batch, 1, 1, len] (padding_bias: 0 for tokens, a
        large negative number for pads); rows: the tokens' positions for the feed-forward
        network (FeedForward) -> [batch, len, hidden]."""
        y = self.self_attention(self.norm1(x), bias=bias, training=training)
        x = x + self.drop(y, training=training)
        y = self.ffn(self.norm2(x), training=training, rows=rows)
        return x + self.drop(y, training=training)

    def get_config(self):
        return {**super().get_config(), **self.config_}


class DecoderLayer(keras.layers.Layer):
    """One pre-norm decoder layer: causal self-attention, attention to the encoder memory
    (when `has_memory`), then the feed-forward network."""

    def __init__(self, hidden_size, num_heads, filter_size, dropout=0.1, attention_dropout=0.1,
                 relu_dropout=0.1, has_memory=True, max_relative_position=0, **kwargs):
        super().__init__(**kwargs)
        sub = dict(dtype=self.dtype_policy)
        self.config_ = dict(hidden_size=hidden_size, num_heads=num_heads, filter_size=filter_size,
                            dropout=dropout, attention_dropout=attention_dropout,
                            relu_dropout=relu_dropout, has_memory=has_memory,
                            max_relative_position=max_relative_position)
        self.has_memory = has_memory
        self.self_attention = MultiHeadAttention(hidden_size, num_heads, attention_dropout,
                                                 max_relative_position, name="self_attention",
                                                 **sub)
        self.norm1 = LayerNorm(epsilon=1e-6, name="norm_self_attention", **sub)
        if has_memory:
            self.encdec_attention = MultiHeadAttention(hidden_size, num_heads, attention_dropout,
                                                       name="encdec_attention", **sub)
            self.norm2 = LayerNorm(epsilon=1e-6, name="norm_encdec", **sub)
        self.ffn = FeedForward(hidden_size, filter_size, relu_dropout, name="ffn", **sub)
        self.norm3 = LayerNorm(epsilon=1e-6, name="norm_ffn", **sub)
        self.drop = Dropout(dropout, **sub)

    def build(self, input_shape):
        """Weights from x's shape [batch, tgt_len, hidden] (the memory is as wide), in the
        order of `call`."""
        self.norm1.build(input_shape)
        self.self_attention.build(input_shape)
        if self.has_memory:
            self.norm2.build(input_shape)
            self.encdec_attention.build(input_shape, input_shape)
        self.norm3.build(input_shape)
        self.ffn.build(input_shape)

    def call(self, x, memory, self_bias, memory_bias, training=False, rows=None):
        """x [batch, tgt_len, hidden]; memory [batch, in_len, hidden] or None; self_bias
        [1, 1, tgt_len, tgt_len] (causal_bias); memory_bias [batch, 1, 1, in_len] or None;
        rows: the tokens' positions for the feed-forward network (FeedForward) -> [batch,
        tgt_len, hidden]."""
        y = self.self_attention(self.norm1(x), bias=self_bias, training=training)
        x = x + self.drop(y, training=training)
        if self.has_memory:
            y = self.encdec_attention(self.norm2(x), memory, bias=memory_bias, training=training)
            x = x + self.drop(y, training=training)
        y = self.ffn(self.norm3(x), training=training, rows=rows)
        return x + self.drop(y, training=training)

    def step(self, x, cache, memory_kv=None, memory_bias=None, qkv_kernel=None):
        """x [n, hidden] (one position per row); cache {"self": {"k", "v"}}; memory_kv (k,
        v) of the memory, [m, ...] with n a multiple of m (a batch entry's beams share its
        memory, see MultiHeadAttention.attend_grouped); qkv_kernel: the self-attention's
        `qkv_kernel()`, if computed already -> (y [n, hidden], cache with this position
        added)."""
        y, self_cache = self.self_attention.step(self.norm1(x), cache["self"], qkv_kernel)
        x = x + y
        if self.has_memory:
            y = self.encdec_attention.attend_grouped(self.norm2(x), *memory_kv,
                                                     bias=memory_bias)
            x = x + y
        x = x + self.ffn(self.norm3(x))
        return x, {**cache, "self": self_cache}

    def get_config(self):
        return {**super().get_config(), **self.config_}


class EncoderStack(keras.layers.Layer):
    """num_layers EncoderLayers and a final layer norm: [batch, len, hidden] -> same."""

    def __init__(self, num_layers, hidden_size, num_heads, filter_size, dropout=0.1,
                 attention_dropout=0.1, relu_dropout=0.1, max_relative_position=0,
                 pad_remover=False, **kwargs):
        super().__init__(**kwargs)
        sub = dict(dtype=self.dtype_policy)
        self.config_ = dict(num_layers=num_layers, hidden_size=hidden_size, num_heads=num_heads,
                            filter_size=filter_size, dropout=dropout,
                            attention_dropout=attention_dropout, relu_dropout=relu_dropout,
                            max_relative_position=max_relative_position,
                            pad_remover=pad_remover)
        self.pad_remover = pad_remover
        self.supports_masking = True   # `mask` here is our padding mask, not Keras masking
        self.num_layers = num_layers
        for i in range(num_layers):   # one attribute each, so tf.train.Checkpoint tracks them
            setattr(self, f"layer_{i}", EncoderLayer(hidden_size, num_heads, filter_size, dropout,
                                                     attention_dropout, relu_dropout,
                                                     max_relative_position, name=f"layer_{i}",
                                                     **sub))
        self.norm = LayerNorm(epsilon=1e-6, name="final_norm", **sub)

    @property
    def stack(self):
        return [getattr(self, f"layer_{i}") for i in range(self.num_layers)]

    def build(self, input_shape):
        """Every layer's weights from x's shape [batch, len, hidden]."""
        for layer in self.stack:
            layer.build(input_shape)
        self.norm.build(input_shape)

    def call(self, x, mask, training=False):
        """x [batch, len, hidden]; mask [batch, len] (1 = token, 0 = pad) -> [batch, len,
        hidden]. With `pad_remover`, training runs the feed-forward networks on the tokens
        only (FeedForward)."""
        _check_rank("EncoderStack", x=(x, 3), mask=(mask, 2))
        bias = padding_bias(mask)
        rows = nonpad_rows(mask) if training and self.pad_remover else None
        for layer in self.stack:
            x = layer(x, bias, training=training, rows=rows)
        return self.norm(x)

    def get_config(self):
        return {**super().get_config(), **self.config_}


class DecoderStack(keras.layers.Layer):
    """num_layers DecoderLayers (causal self-attention, attention to memory when given)."""

    def __init__(self, num_layers, hidden_size, num_heads, filter_size, dropout=0.1,
                 attention_dropout=0.1, relu_dropout=0.1, has_memory=True,
                 max_relative_position=0, pad_remover=False, **kwargs):
        super().__init__(**kwargs)
        sub = dict(dtype=self.dtype_policy)
        self.config_ = dict(num_layers=num_layers, hidden_size=hidden_size, num_heads=num_heads,
                            filter_size=filter_size, dropout=dropout,
                            attention_dropout=attention_dropout, relu_dropout=relu_dropout,
                            has_memory=has_memory, max_relative_position=max_relative_position,
                            pad_remover=pad_remover)
        self.pad_remover = pad_remover
        self.num_heads = num_heads
        self.depth = hidden_size // num_heads
        self.num_layers = num_layers
        for i in range(num_layers):   # one attribute each, so tf.train.Checkpoint tracks them
            setattr(self, f"layer_{i}", DecoderLayer(hidden_size, num_heads, filter_size, dropout,
                                                     attention_dropout, relu_dropout, has_memory,
                                                     max_relative_position, name=f"layer_{i}",
                                                     **sub))
        self.norm = LayerNorm(epsilon=1e-6, name="final_norm", **sub)

    @property
    def stack(self):
        return [getattr(self, f"layer_{i}") for i in range(self.num_layers)]

    def build(self, input_shape):
        """Every layer's weights from x's shape [batch, len, hidden]."""
        for layer in self.stack:
            layer.build(input_shape)
        self.norm.build(input_shape)

    def call(self, x, memory=None, memory_mask=None, training=False, targets_mask=None):
        """x [batch, tgt_len, hidden] (shifted targets); memory [batch, in_len, hidden] and
        memory_mask [batch, in_len] when the decoder has memory -> [batch, tgt_len, hidden].
        targets_mask [batch, tgt_len] (1 where the target is a token, 0 where it is a pad),
        with `pad_remover`: training runs the feed-forward networks on the tokens only."""
        _check_rank("DecoderStack", x=(x, 3), memory=(memory, 3), memory_mask=(memory_mask, 2),
                    targets_mask=(targets_mask, 2))
        self_bias = causal_bias(tf.shape(x)[1])
        memory_bias = padding_bias(memory_mask) if memory_mask is not None else None
        rows = nonpad_rows(targets_mask) \
            if training and self.pad_remover and targets_mask is not None else None
        for layer in self.stack:
            x = layer(x, memory, self_bias, memory_bias, training=training, rows=rows)
        return self.norm(x)

    def init_cache(self, batch_size, dtype=None):
        """Per-layer self-attention caches, empty: k/v [batch, heads, 0, depth] in the
        layer's compute dtype (default). They grow by one position per `step`; in a
        tf.while_loop their length dim must be left free (beam_search does)."""
        empty = tf.zeros([batch_size, self.num_heads, 0, self.depth],
                         dtype or self.compute_dtype)
        return [{"self": {"k": empty, "v": empty}} for _ in self.stack]

    def memory_keys_values(self, memory):
        """memory [batch, in_len, hidden] -> per layer (k, v), each [batch, heads, in_len,
        depth]: computed once per decode, not per step, one copy per batch entry (its beams
        share it in `step`); keep them out of the beam search's states (reordering them with
        the beams would be wasted work)."""
        return [layer.encdec_attention.keys_values(memory) for layer in self.stack]

    def step_kernels(self):
        """Per layer, the self-attention's fused query/key/value kernel: compute it once,
        outside a decoding loop, and pass it to every `step`."""
        return [layer.self_attention.qkv_kernel() for layer in self.stack]

    def step(self, x, cache, memory_kv=None, memory_mask=None, kernels=None):
        """x [n, hidden] (one position per row) -> (y [n, hidden] after the final norm, new
        cache). memory_kv: `memory_keys_values(memory)` when the decoder has memory, with
        memory_mask [m, in_len], for m batch entries of n / m consecutive rows (beams);
        kernels: `step_kernels()` (computed here when not given). Every matmul of a step
        is a plain 2-D one ([n, hidden] rows)."""
        memory_bias = padding_bias(memory_mask) if memory_mask is not None else None
        kernels = self.step_kernels() if kernels is None else kernels
        new_cache = []
        for n, (layer, layer_cache) in enumerate(zip(self.stack, cache)):
            x, layer_cache = layer.step(x, layer_cache,
                                        memory_kv[n] if memory_kv is not None else None,
                                        memory_bias, kernels[n])
            new_cache.append(layer_cache)
        return self.norm(x), new_cache

    def get_config(self):
        return {**super().get_config(), **self.config_}

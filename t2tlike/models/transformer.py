"""The Transformer (Vaswani et al., 2017): encoder-decoder, or decoder-only without inputs,
or encoder-only for classification (a "class_label" targets modality, as T2T's
transformer_encoder).

Hparams sets and values follow T2T's transformer.py: transformer_base is T2T's v3
(pre-norm, dropout 0.1, Adam beta2 0.997, "constant*linear_warmup*rsqrt_decay*
rsqrt_hidden_size" with constant 2.0 and 8000 warmup steps).

Positions, as T2T's hparams: `pos="timing"` adds the sinusoidal signal to the embeddings
("none": no absolute positions); `self_attention_type="dot_product_relative"` with
`max_relative_position` > 0 makes every self-attention relative-position aware (Shaw et
al., 2018), as T2T's transformer_relative* sets.

`use_pad_remover` (T2T's hparam; True in transformer_base): in training, the encoder's and
the decoder's feed-forward networks run on the tokens only, not on the pads of a batch
(layers/transformer.py, FeedForward). Evaluation and decoding run every position.
"""
import keras
import tensorflow as tf

from t2tlike import registry
from t2tlike.errors import UserError
from t2tlike.layers import transformer as layers
from t2tlike.layers.dropout import Dropout
from t2tlike.layers.modalities import ModalityType
from t2tlike.layers.positional import add_timing_signal, timing_signal
from t2tlike.models.common_hparams import basic_params1
from t2tlike.t2t_model import T2TModel


@registry.register_model("transformer")
class Transformer(T2TModel):
    """Encoder-decoder Transformer; decoder-only (language model) when there are no inputs;
    encoder-only when the targets are one class label per example."""

    def __init__(self, hparams, problem_hparams, **kwargs):
        super().__init__(hparams, problem_hparams, **kwargs)
        hp = hparams
        self.use_timing = _position_settings(hp)
        relative = hp.self_attention_type == "dot_product_relative"
        stack = dict(num_layers=hp.num_hidden_layers, hidden_size=hp.hidden_size,
                     num_heads=hp.num_heads, filter_size=hp.filter_size,
                     dropout=hp.layer_prepostprocess_dropout,
                     attention_dropout=hp.attention_dropout, relu_dropout=hp.relu_dropout,
                     max_relative_position=hp.max_relative_position if relative else 0,
                     pad_remover=bool(hp.use_pad_remover),
                     dtype=self.dtype_policy)
        self.encoder_only = self.has_inputs and \
            problem_hparams.modality["targets"] == ModalityType.CLASS_LABEL
        self.encoder = layers.EncoderStack(**stack, name="encoder") if self.has_inputs else None
        self.decoder = None if self.encoder_only else \
            layers.DecoderStack(**stack, has_memory=self.has_inputs, name="decoder")
        self.input_dropout = Dropout(hp.layer_prepostprocess_dropout,
                                                  dtype=self.dtype_policy)

    def encode(self, inputs, inputs_mask, training=False):
        """inputs [batch, in_len, hidden] -> memory [batch, in_len, hidden]."""
        x = add_timing_signal(inputs) if self.use_timing else inputs
        return self.encoder(self.input_dropout(x, training=training), inputs_mask,
                            training=training)

    def body(self, features, training=False):
        """inputs [batch, in_len, hidden], targets [batch, tgt_len, hidden] (shifted)
        -> [batch, tgt_len, hidden]. Encoder-only: the encoder output averaged over the
        real (non-pad) input positions -> [batch, 1, hidden], for the class-label top."""
        memory = mask = None
        if self.has_inputs:
            mask = features["inputs_mask"]
            memory = self.encode(features["inputs"], mask, training=training)
        if self.encoder_only:
            return masked_mean(memory, mask)
        x = features["targets"]
        x = add_timing_signal(x) if self.use_timing else x
        return self.decoder(self.input_dropout(x, training=training), memory,
                            memory_mask=mask, training=training,
                            targets_mask=features.get("targets_mask"))

    def decoding_step_fn(self, features, num_samples, decode_length):
        """Incremental decoding: each step embeds one token and runs the decoder once over
        a cache of earlier keys/values (no re-running of the prefix). The encoder memory's
        keys/values are computed once, one copy per batch entry (its beams share it), and
        travel as the search's context, not in the (beam-reordered) states."""
        context = {}
        if self.has_inputs:
            inputs = features["inputs"]
            embedded = self.bottom({"inputs": inputs, "targets": inputs[:, :1]})
            memory = self.encode(embedded["inputs"], embedded["inputs_mask"])
            context = {"memory_kv": self.decoder.memory_keys_values(memory),
                       "mask": embedded["inputs_mask"]}
        cache = self.decoder.init_cache(num_samples)
        signal = timing_signal(decode_length, self.hidden_size)[0]          # [decode_length, hidden]
        top = self.target_modality.decoding_top()
        kernels = self.decoder.step_kernels()

        def step_fn(prev_ids, i, cache, context):
            x = self.target_modality.targets_bottom(prev_ids[:, tf.newaxis])[:, 0]  # [n, hidden]
            if self.use_timing:
                x += tf.cast(signal[i], x.dtype)[tf.newaxis]
            y, cache = self.decoder.step(x, cache, context.get("memory_kv"),
                                         memory_mask=context.get("mask"), kernels=kernels)
            return top(y), cache

        return step_fn, cache, context


def _position_settings(hp):
    """Checks `pos`, `self_attention_type`, `max_relative_position` and that `num_heads`
    divides `hidden_size`; True when the sinusoidal timing signal is added."""
    if hp.num_heads < 1 or hp.hidden_size % hp.num_heads:
        raise UserError(f"num_heads ({hp.num_heads}) must divide hidden_size "
                        f"({hp.hidden_size}): each head gets hidden_size / num_heads "
                        "dimensions. Change one of them, e.g. --hparams=num_heads=4.")
    pos = hp.pos
    if pos not in ("timing", "none", None):
        raise UserError(f"unknown pos {pos!r}: expected 'timing' (sinusoidal positions) or "
                        "'none'; set it with --hparams=pos=timing")
    kind = hp.self_attention_type
    if kind not in ("dot_product", "dot_product_relative"):
        raise UserError(f"unknown self_attention_type {kind!r}: expected 'dot_product' or "
                        "'dot_product_relative'")
    if kind == "dot_product_relative" and hp.max_relative_position < 1:
        raise UserError("self_attention_type=dot_product_relative needs max_relative_position "
                        ">= 1 (T2T's transformer_relative uses 20); set it with "
                        "--hparams=max_relative_position=20")
    return pos == "timing"


def masked_mean(x, mask):
    """x [batch, length, hidden], mask [batch, length] (1 = token) -> [batch, 1, hidden]:
    the mean over the masked-in positions, so padding never changes the result."""
    mask = tf.cast(mask, x.dtype)[..., tf.newaxis]                  # [batch, length, 1]
    total = tf.reduce_sum(x * mask, axis=1, keepdims=True)
    return total / tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)


@registry.register_hparams
def transformer_base():
    """T2T's transformer_base (v3): 6+6 layers, 512 hidden, 2048 filter, 8 heads."""
    return basic_params1().extend(
        pos="timing",                        # or "none": no absolute positions
        self_attention_type="dot_product",   # or "dot_product_relative" (Shaw et al., 2018)
        max_relative_position=0,             # > 0 with dot_product_relative (T2T: 20)
        use_pad_remover=True,                # training: feed-forward networks skip pads
    ).replace(
        hidden_size=512, filter_size=2048, num_heads=8, num_hidden_layers=6,
        batch_size=4096, max_length=256, clip_grad_norm=0.0,
        layer_prepostprocess_dropout=0.1, attention_dropout=0.1, relu_dropout=0.1,
        label_smoothing=0.1, shared_embedding_and_softmax_weights=True,
        optimizer="adam", optimizer_adam_beta1=0.9, optimizer_adam_beta2=0.997,
        optimizer_adam_epsilon=1e-9, weight_decay=0.0,
        learning_rate_schedule="constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size",
        learning_rate_constant=2.0, learning_rate_warmup_steps=8000)


@registry.register_hparams
def transformer_big():
    """transformer_base, twice as wide, 16 heads, more dropout (the paper's 'big')."""
    return transformer_base().replace(hidden_size=1024, filter_size=4096, num_heads=16,
                                      batch_size=2048, layer_prepostprocess_dropout=0.3)


@registry.register_hparams
def transformer_base_single_gpu():
    """transformer_base for one GPU: smaller batches, longer warmup, plain rsqrt decay."""
    return transformer_base().replace(
        batch_size=1024, learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
        learning_rate_constant=0.1, learning_rate_warmup_steps=16000)


@registry.register_hparams
def transformer_big_single_gpu():
    """transformer_big for one GPU: less dropout, longer warmup."""
    return transformer_big().replace(layer_prepostprocess_dropout=0.1,
                                     learning_rate_warmup_steps=16000)


@registry.register_hparams
def transformer_small():
    """2+2 layers, 256 hidden, 1024 filter, 4 heads."""
    return transformer_base().replace(num_hidden_layers=2, hidden_size=256, filter_size=1024,
                                      num_heads=4)


@registry.register_hparams
def transformer_tiny():
    """2+2 layers, 128 hidden, 512 filter, 4 heads: for toy problems and tests."""
    return transformer_base().replace(num_hidden_layers=2, hidden_size=128, filter_size=512,
                                      num_heads=4)


@registry.register_hparams
def transformer_relative():
    """transformer_base with relative-position self-attention (Shaw et al., 2018) instead of
    absolute positions, distances clipped at 20 (T2T's values)."""
    return transformer_base().replace(pos="none", self_attention_type="dot_product_relative",
                                      max_relative_position=20)


@registry.register_hparams
def transformer_relative_tiny():
    """transformer_relative at transformer_tiny's size."""
    return transformer_relative().replace(num_hidden_layers=2, hidden_size=128,
                                          filter_size=512, num_heads=4)


@registry.register_hparams
def transformer_relative_big():
    """transformer_big with relative-position self-attention."""
    return transformer_big().replace(pos="none", self_attention_type="dot_product_relative",
                                     max_relative_position=20)


@registry.register_hparams
def transformer_multi30k():
    """transformer_small with 3+3 layers, tuned for Multi30k (29k sentence pairs, shared 8k
    vocab) on a 20-minute budget of 2 CPU cores, at the size of the fairseq model it is
    compared with in docs/benchmarks.md (d_model 256, FFN 1024, 4 heads, 3+3 layers). The
    budget allows only about 600 updates here, so the batches are small (2,500 tokens: more
    updates for the same tokens), the warm-up short (150 steps) and the peak learning rate
    high (0.5 / sqrt(150 * 256) = 2.6e-3); no attention or ReLU dropout."""
    return transformer_small().replace(
        num_hidden_layers=3, batch_size=2500, max_length=100,
        attention_dropout=0.0, relu_dropout=0.0, optimizer_adam_beta2=0.98,
        learning_rate_constant=0.5, learning_rate_warmup_steps=150)


@registry.register_hparams
def transformer_multitask_multi30k():
    """transformer_multi30k at 2+2 layers with batches of 1,500 tokens: the model of the
    multi-task benchmark (benchmarks/multitask_multi30k.sh: low-resource en-de beside
    en-fr), sized so that each of its eight runs converges in about ten minutes of 2 CPU
    cores. On this machine it trains at about 1.5 steps/s (2,100 target tokens/s) in
    float32, so 700 updates read about a million tokens: some 2.5 passes over the two
    tasks' data, and many more over the small task's 2,900 pairs alone, where the kept
    dropout (0.1 between layers) and per-task best checkpoints hold over-fitting off."""
    return transformer_multi30k().replace(num_hidden_layers=2, batch_size=1500)


@registry.register_hparams
def transformer_tiny_reverse():
    """transformer_tiny set up to learn string reversal (algorithmic_reverse_*) in 8,000
    steps: reversal maps output position t to input position n - 1 - t, which absolute
    sinusoidal positions alone do not learn in a few thousand steps, so self-attention is
    relative-position aware with distances up to 40 (the longest training string; Shaw et
    al., 2018); no dropout (the data is noise-free); batches of 1,024 tokens, a 1,000-step
    warm-up and half transformer_tiny's peak learning rate, for a short run. Measured:
    100% exact match on the 1,000 test strings at 8,000 steps (docs/benchmarks.md)."""
    return transformer_tiny().replace(
        self_attention_type="dot_product_relative", max_relative_position=40,
        layer_prepostprocess_dropout=0.0, attention_dropout=0.0, relu_dropout=0.0,
        batch_size=1024, learning_rate_warmup_steps=1000, learning_rate_constant=1.0)

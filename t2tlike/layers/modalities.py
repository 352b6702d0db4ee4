"""Modalities: how one feature enters the body (bottom) and leaves it (top, loss).

One class each, registered by name: "symbol" (ids, embedding bottom, softmax top tied to
the embedding, label-smoothed cross-entropy over non-pad positions), "class_label" (one
class per example), "real" (float vectors, L2 loss), "identity" (pass-through, L2 loss).

Shapes: ids [batch, length] -> bottom [batch, length, hidden]; body output
[batch, length, hidden] -> top [batch, length, vocab]. `loss` returns (sum, weight) so
replicas and batches can be combined exactly before dividing.

Precision: bottom returns the layer's compute dtype (bfloat16 or float16 under a mixed
policy); top computes in it and returns float32 logits, so the loss, the metrics, padding
with the dtype's lowest value and every decoding score are float32 whatever the policy.
"""
import keras
import tensorflow as tf

from t2tlike import registry
from t2tlike.layers.dense import Dense


class ModalityType:
    SYMBOL = "symbol"
    CLASS_LABEL = "class_label"
    REAL = "real"
    IDENTITY = "identity"


def smoothed_cross_entropy(logits, labels, label_smoothing):
    """Per-position cross-entropy against label-smoothed targets, minus its minimum.

    logits [..., vocab]; labels [...] int. The smoothed target q puts confidence c = 1 -
    label_smoothing on the label and low = label_smoothing / (vocab - 1) on each other id
    (T2T's smoothing_cross_entropy); subtracting the target's entropy makes a perfect
    model's loss 0.

    With q summing to 1, -sum(q * log_softmax(x)) = logsumexp(x) - (c - low) * x[label] -
    low * sum(x), and its gradient is softmax(x) - q. Both are computed here from the
    logits directly (a custom gradient): autodiff through a full log-softmax, a gather
    and a sum costs some ten passes over the [positions, vocab] tensor, about a tenth of a
    Transformer train step at an 8k vocabulary; this costs four.
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    vocab = tf.shape(logits)[-1]
    confidence = 1.0 - label_smoothing
    low = label_smoothing / tf.cast(vocab - 1, tf.float32)

    @tf.custom_gradient
    def xent(x):
        flat_x, flat_labels = tf.reshape(x, [-1, vocab]), tf.reshape(labels, [-1])
        lse = tf.reduce_logsumexp(flat_x, axis=-1)
        loss = lse - (confidence - low) * tf.gather(flat_x, flat_labels, batch_dims=1)
        if label_smoothing:
            loss -= low * tf.reduce_sum(flat_x, axis=-1)

        def grad(upstream):
            g = tf.reshape(upstream, [-1])
            d = tf.exp(flat_x - lse[:, tf.newaxis])                  # softmax(x)
            if label_smoothing:
                d -= low
            d *= g[:, tf.newaxis]
            at_label = tf.stack([tf.range(tf.shape(flat_labels)[0]), flat_labels], axis=1)
            d = tf.tensor_scatter_nd_sub(d, at_label, (confidence - low) * g)
            return tf.reshape(d, tf.shape(x))

        return tf.reshape(loss, tf.shape(labels)), grad

    if not label_smoothing:
        return xent(logits)
    normalizing = -(confidence * tf.math.log(confidence) +
                    tf.cast(vocab - 1, tf.float32) * low * tf.math.log(low + 1e-20))
    return xent(logits) - normalizing


def _per_example(losses, example_weights):
    """losses [batch, ...] times example_weights [batch] (None: unchanged)."""
    if example_weights is None:
        return losses
    w = tf.cast(tf.reshape(example_weights, [-1]), losses.dtype)
    return losses * tf.reshape(w, [-1] + [1] * (losses.shape.rank - 1))


class Modality(keras.layers.Layer):
    """Base: bottom / targets_bottom / top / loss / targets_weights for one feature.

    Sublayers are created in `__init__`, weights in `build(input_shape)`; their shapes
    follow from vocab_size and hidden_size. The owning model builds its modalities in its own `build`
    (T2TModel.build, which Keras runs before the model's first call): an inputs modality
    with the shape of ids, [batch, length], the targets modality with that of the body's
    output, [batch, length, hidden].
    """

    def __init__(self, vocab_size, hidden_size, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.label_smoothing = label_smoothing

    def bottom(self, x):
        raise NotImplementedError

    def targets_bottom(self, x):
        return self.bottom(x)

    def top(self, body_output):
        raise NotImplementedError

    def decoding_top(self):
        """`top` for a decoding loop: a function from one position per row, [n, hidden], to
        float32 logits [n, vocab]. Call it once, outside the loop (a modality may prepare
        its weights there), and the function it returns at every step."""
        return lambda body_output: self.top(body_output[:, tf.newaxis])[:, 0]

    def targets_weights(self, targets):
        """[batch, length] float: 1 where the target counts in the loss."""
        return tf.cast(tf.not_equal(targets, 0), tf.float32)

    def loss(self, logits, targets, example_weights=None):
        """(sum of per-position losses times weights, sum of weights). `example_weights`
        ([batch] float, optional) multiplies each example's losses in the first sum only,
        so the loss stays normalized by the number of target positions."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                      label_smoothing=self.label_smoothing)
        return config


@registry.register_modality("symbol")
class SymbolModality(Modality):
    """Ids -> embeddings * sqrt(hidden) (pad id 0 -> zeros); softmax tied to the embedding."""

    def __init__(self, vocab_size, hidden_size, label_smoothing=0.0, tie_softmax=True, **kwargs):
        super().__init__(vocab_size, hidden_size, label_smoothing, **kwargs)
        self.tie_softmax = tie_softmax

    def build(self, input_shape=None):
        init = keras.initializers.RandomNormal(stddev=self.hidden_size ** -0.5)
        self.embedding = self.add_weight(name="embedding", shape=(self.vocab_size, self.hidden_size),
                                         initializer=init)
        if not self.tie_softmax:
            self.softmax_weights = self.add_weight(
                name="softmax", shape=(self.vocab_size, self.hidden_size), initializer=init)

    def bottom(self, x):
        """x [batch, length] int -> [batch, length, hidden]."""
        emb = tf.gather(tf.cast(self.embedding, self.compute_dtype), x)
        emb *= self.hidden_size ** 0.5
        return emb * tf.cast(tf.not_equal(x, 0), emb.dtype)[..., tf.newaxis]

    def top(self, body_output):
        """[batch, length, hidden] -> logits [batch, length, vocab]."""
        w = self.embedding if self.tie_softmax else self.softmax_weights
        # One 2-D matmul: [batch * length, hidden] x [hidden, vocab]. A 3-D x 2-D
        # tf.matmul becomes a broadcasting BatchMatMul, which (with its gradient) is about
        # 10x slower on CPU and would be most of a Transformer train step. (tf.matmul's
        # gradient, not layers/dense.py's: for a [vocab, hidden] weight, transposing the
        # large result costs more than the other orientation saves.)
        shape = tf.shape(body_output)
        flat = tf.reshape(body_output, [-1, shape[-1]])                # [batch*length, hidden]
        logits = tf.matmul(flat, tf.cast(w, flat.dtype), transpose_b=True)
        logits = tf.cast(logits, tf.float32)                           # see the module doc
        return tf.reshape(logits, tf.concat([shape[:-1], [self.vocab_size]], axis=0))

    def decoding_top(self):
        """See Modality.decoding_top: the softmax weights are cast and transposed here,
        once, so that every decoding step runs one plain [n, hidden] x [hidden, vocab]
        matmul (oneDNN is slower with a transposed right operand of this size)."""
        w = self.embedding if self.tie_softmax else self.softmax_weights
        w = tf.transpose(tf.cast(w, self.compute_dtype))                # [hidden, vocab]
        return lambda body_output: tf.cast(tf.matmul(body_output, w), tf.float32)

    def loss(self, logits, targets, example_weights=None):
        xent = smoothed_cross_entropy(logits, targets, self.label_smoothing)
        w = self.targets_weights(targets)
        return tf.reduce_sum(_per_example(xent * w, example_weights)), tf.reduce_sum(w)

    def get_config(self):
        return {**super().get_config(), "tie_softmax": self.tie_softmax}


@registry.register_modality("class_label")
class ClassLabelModality(Modality):
    """One label per example: targets [batch, 1]; top mean-pools the body over length.

    Its weights: "classifier" (the top), and "embedding" [num_classes, hidden] only when
    the modality embeds labels with `bottom` (a class-label *inputs* feature, built with
    the ids' shape [batch, length]); on the targets side (built with the body output's
    [batch, length, hidden]) the body never sees the label, so no embedding is made (none
    that gets no gradient).
    """

    def __init__(self, vocab_size, hidden_size, label_smoothing=0.0, **kwargs):
        super().__init__(vocab_size, hidden_size, label_smoothing, **kwargs)
        self._embeds = False
        self.embedding = None
        self.classifier = Dense(vocab_size, name="classifier", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self._embeds = input_shape is not None and len(input_shape) == 2   # ids: inputs side
        if self._embeds:
            self.embedding = self.add_weight(
                name="embedding", shape=(self.vocab_size, self.hidden_size),
                initializer=keras.initializers.RandomNormal(stddev=self.hidden_size ** -0.5))
        self.classifier.build((None, self.hidden_size))

    def bottom(self, x):
        """x [batch, length] class ids -> [batch, length, hidden]."""
        if self.embedding is None:
            raise ValueError(f"{self.name}: bottom() needs the embedding of an inputs-side "
                             "class-label modality, built with the shape of ids "
                             "[batch, length]; this one was built for targets.")
        return tf.gather(tf.cast(self.embedding, self.compute_dtype), x) * self.hidden_size ** 0.5

    def targets_bottom(self, x):
        """The body sees no label: zeros [batch, 1, hidden]."""
        return tf.zeros([tf.shape(x)[0], 1, self.hidden_size], self.compute_dtype)

    def top(self, body_output):
        """[batch, length, hidden] -> [batch, 1, num_classes]."""
        pooled = tf.reduce_mean(body_output, axis=1, keepdims=True)
        return tf.cast(self.classifier(pooled), tf.float32)

    def targets_weights(self, targets):
        return tf.ones_like(tf.cast(targets, tf.float32))

    def loss(self, logits, targets, example_weights=None):
        xent = smoothed_cross_entropy(logits, targets, self.label_smoothing)
        return (tf.reduce_sum(_per_example(xent, example_weights)),
                tf.cast(tf.size(targets), tf.float32))


class _VectorModality(Modality):
    """Base of the float-vector modalities: every position counts; L2 loss."""

    def targets_weights(self, targets):
        return tf.ones(tf.shape(targets)[:2], tf.float32)

    def loss(self, logits, targets, example_weights=None):
        err = tf.square(tf.cast(logits, tf.float32) - tf.cast(targets, tf.float32))
        return tf.reduce_sum(_per_example(err, example_weights)), tf.cast(tf.size(err),
                                                                          tf.float32)


@registry.register_modality("real")
class RealModality(_VectorModality):
    """Float vectors [batch, length, vocab_size] (vocab_size = feature depth); L2 loss."""

    def __init__(self, vocab_size, hidden_size, label_smoothing=0.0, **kwargs):
        super().__init__(vocab_size, hidden_size, label_smoothing, **kwargs)
        self.project_in = Dense(hidden_size, name="bottom", dtype=self.dtype_policy)
        self.project_out = Dense(vocab_size, name="top", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.project_in.build((None, None, self.vocab_size))
        self.project_out.build((None, None, self.hidden_size))

    def bottom(self, x):
        return self.project_in(tf.cast(x, self.compute_dtype))

    def top(self, body_output):
        return tf.cast(self.project_out(body_output), tf.float32)


@registry.register_modality("identity")
class IdentityModality(_VectorModality):
    """Pass-through: features already are [batch, length, hidden]; L2 loss."""

    def build(self, input_shape=None):
        pass

    def bottom(self, x):
        return tf.cast(x, self.compute_dtype)

    def top(self, body_output):
        return tf.cast(body_output, tf.float32)

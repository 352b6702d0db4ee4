"""T2TModel: modality bottom -> body (tensor -> tensor) -> modality top -> loss.

A model subclasses T2TModel, unpacks its hparams in `__init__` and implements
`body(features, training) -> [batch, length, hidden]`. Everything else (embedding the
features, shifting the targets right, the softmax, the loss, greedy and beam decoding)
comes from here and from the problem's modalities.

Features: "inputs" [batch, in_len] and "targets" [batch, tgt_len] ids (0 = pad, each
sequence ending in EOS = 1). The body receives them embedded, [batch, len, hidden], with
the targets shifted right by one position, plus "inputs_mask" [batch, in_len] (1 = token).
The trainer may add EXAMPLE_WEIGHTS ([batch] float) for the loss (`training_loss`).
"""
import keras
import tensorflow as tf

from t2tlike import registry
from t2tlike.decoding import search
from t2tlike.layers import modalities  # noqa: F401  (registers the built-in modalities)
from t2tlike import precision as precision_lib

# a feature the trainer adds to scale each example's loss (multi-task loss weights)
EXAMPLE_WEIGHTS = "example_loss_weights"


def shift_right(x):
    """[batch, length, hidden] -> the same, moved one step later with zeros at position 0."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0]])[:, :-1, :]


def build_model(model_name, hparams, problem_hparams):
    """An instance of the registered model (variables are created on its first call) in
    the precision hparams.mixed_precision resolves to on this machine (precision.py). The
    built-in models pass their dtype policy down to every layer; creating the model under
    the policy as well gives it to the layers of a user's model that do not."""
    mode = precision_lib.resolve(hparams)
    with precision_lib.policy_scope(mode):
        return registry.model(model_name)(hparams, problem_hparams, precision=mode,
                                          name=model_name)


class T2TModel(keras.Model):
    """Base of every model; see the module docstring.

    `precision` is the compute precision the model was created in ("none" = float32,
    "bfloat16", "float16"; see t2tlike/precision.py): `build_model` passes it and creates
    the layers under its policy.
    """

    def __init__(self, hparams, problem_hparams, precision="none", **kwargs):
        kwargs.setdefault("dtype", precision_lib.POLICIES[precision])
        super().__init__(**kwargs)
        self.precision = precision
        self._hparams = hparams
        self._problem_hparams = problem_hparams
        self.has_inputs = bool(problem_hparams.has_inputs) and "inputs" in problem_hparams.modality
        self.hidden_size = hidden = hparams.hidden_size
        smoothing = hparams.label_smoothing
        targets_cls = registry.modality(problem_hparams.modality["targets"])
        self.target_modality = targets_cls(
            problem_hparams.vocab_size["targets"], hidden, label_smoothing=smoothing,
            name="targets_modality", dtype=self.dtype_policy,
            **({"tie_softmax": hparams.shared_embedding_and_softmax_weights}
               if targets_cls is registry.modality("symbol") else {}))
        self.input_modality = None
        if self.has_inputs:
            if hparams.shared_embedding and \
                    problem_hparams.modality["inputs"] == problem_hparams.modality["targets"] and \
                    problem_hparams.vocab_size["inputs"] == problem_hparams.vocab_size["targets"]:
                self.input_modality = self.target_modality
            else:
                self.input_modality = registry.modality(problem_hparams.modality["inputs"])(
                    problem_hparams.vocab_size["inputs"], hidden, name="inputs_modality",
                    dtype=self.dtype_policy)

    @property
    def hparams(self):
        return self._hparams

    @property
    def problem_hparams(self):
        return self._problem_hparams

    def build(self, features_shape=None):
        """Creates the modalities' weights (Keras runs this before the first call; the
        body's layers build on their own first call): an inputs modality reads ids
        [batch, in_len], the targets modality the body's output [batch, tgt_len, hidden]."""
        if self.input_modality is not None and not self.input_modality.built:
            self.input_modality.build((None, None))
        if not self.target_modality.built:
            self.target_modality.build((None, None, self.hidden_size))
        self.built = True

    def _build_once(self):
        """`build` when the pieces (bottom, top, infer) are used before any call."""
        if not self.built:
            self.build()

    # -- the pieces ------------------------------------------------------------------
    def bottom(self, features):
        """Ids -> the body's features (embedded inputs, shifted embedded targets, masks:
        inputs_mask, and targets_mask for id targets)."""
        self._build_once()
        for name in ("inputs", "targets"):
            rank = features[name].shape.rank if name in features else None
            if rank not in (None, 2, 3):
                raise ValueError(f"{self.name}: features[{name!r}] must be ids [batch, "
                                 f"length] (or [batch, length, depth] for a real modality); "
                                 f"got shape {features[name].shape}.")
        out = {}
        if self.has_inputs:
            out["inputs"] = self.input_modality.bottom(features["inputs"])
            out["inputs_mask"] = tf.cast(tf.not_equal(features["inputs"], 0), tf.float32) \
                if features["inputs"].shape.rank == 2 else \
                tf.ones(tf.shape(out["inputs"])[:2], tf.float32)
        out["targets"] = shift_right(self.target_modality.targets_bottom(features["targets"]))
        if features["targets"].shape.rank == 2:   # 1 where the target (to predict) is a token
            out["targets_mask"] = tf.cast(tf.not_equal(features["targets"], 0), tf.float32)
        return out

    def body(self, features, training=False):
        """features (see bottom) -> [batch, tgt_len, hidden]."""
        raise NotImplementedError(f"{type(self).__name__} must implement body")

    def top(self, body_output):
        """[batch, tgt_len, hidden] -> logits [batch, tgt_len, vocab] (float32)."""
        self._build_once()
        return self.target_modality.top(body_output)

    def call(self, features, training=False):
        """ids -> logits [batch, tgt_len, vocab]."""
        return self.top(self.body(self.bottom(features), training=training))

    def training_loss(self, logits, features):
        """(weighted loss sum, weight sum) over the targets; features[EXAMPLE_WEIGHTS]
        ([batch] float), when present, multiplies each example's losses in the sum."""
        return self.target_modality.loss(logits, features["targets"],
                                         features.get(EXAMPLE_WEIGHTS))

    # -- decoding --------------------------------------------------------------------
    def decode_length(self, features, extra_length):
        """int32 scalar: how many ids decoding may emit: the input length + extra_length,
        or, without inputs, the longest prompt (features["targets"]) + extra_length."""
        return search.decode_length(features, extra_length, has_inputs=self.has_inputs)

    def decoding_step_fn(self, features, num_samples, decode_length):
        """(step_fn, initial states, context) for decoding/search.py:
        `step_fn(prev_ids, i, states, context)`; states have leading dim num_samples (batch
        * beam), the context one row per batch entry. Nothing per row may be captured in
        step_fn: finished entries leave the batch, and only states and context follow.

        This generic version re-runs the whole model on the prefix decoded so far at every
        step; models with a cache (the Transformer) override it. A prompt needs nothing
        here: the search feeds its tokens back through `prev_ids` like decoded ones.
        """
        context = {"inputs": features["inputs"]} if self.has_inputs else {}
        buffer = tf.zeros([num_samples, decode_length], tf.int32)

        def step_fn(prev_ids, i, states, context):
            buf = states["buffer"]
            write = tf.one_hot(i - 1, decode_length, dtype=tf.int32)[tf.newaxis]
            buf = buf + write * prev_ids[:, tf.newaxis] * tf.cast(i > 0, tf.int32)
            feats = {"targets": buf}
            if context:
                inputs = context["inputs"]
                feats["inputs"] = tf.repeat(inputs, tf.shape(buf)[0] // tf.shape(inputs)[0],
                                            axis=0)
            logits = self(feats, training=False)
            return tf.gather(logits, i, axis=1), {"buffer": buf}

        return step_fn, {"buffer": buffer}, context

    def infer(self, features, beam_size=1, alpha=0.6, extra_length=50, return_beams=False,
              early_stopping=False):
        """Decodes (decoding/search.py). Returns {"outputs": [batch, length] (or [batch,
        beam, length] with return_beams), "scores": [batch] (or [batch, beam])}; ids after
        EOS are 0. features: "inputs" [batch, in_len] ids, or, without inputs (a language
        model), "targets" [batch, prompt_len] prompts right-padded with 0, which the
        outputs start with (see decoding/search.py).

        With "class_label" targets: one forward pass, outputs [batch, 1] (or
        [batch, 1, 1]) = the argmax class (no EOS), scores = its log-probability.
        """
        self._build_once()
        if isinstance(self.target_modality, modalities.ClassLabelModality):
            return search.classify(self._class_logits(features), return_beams)
        return search.decode(self.decoding_step_fn, features, beam_size=beam_size, alpha=alpha,
                             extra_length=extra_length, return_beams=return_beams,
                             early_stopping=early_stopping, has_inputs=self.has_inputs)

    def _class_logits(self, features):
        """A classifier's logits [batch, classes]: one forward pass with a dummy target."""
        batch = tf.shape(features["inputs"] if self.has_inputs else features["targets"])[0]
        feats = dict(features, targets=tf.zeros([batch, 1], tf.int32))
        return self(feats, training=False)[:, 0]

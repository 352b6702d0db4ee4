"""T2TModel: modality bottom -> body (tensor -> tensor) -> modality top -> loss.

A model subclasses T2TModel, unpacks its hparams in `__init__` and implements
`body(features, training) -> [batch, length, hidden]`. Everything else (embedding the
features, shifting the targets right, the softmax, the loss, greedy and beam decoding)
comes from here and from the problem's modalities.

Features: "inputs" [batch, in_len] and "targets" [batch, tgt_len] ids (0 = pad, each
sequence ending in EOS = 1). The body receives them embedded, [batch, len, hidden], with
the targets shifted right by one position, plus "inputs_mask" [batch, in_len] (1 = token).
"""
import keras
import tensorflow as tf

from t2tlike import registry
from t2tlike.decoding import beam_search
from t2tlike.layers import modalities  # noqa: F401  (registers the built-in modalities)
from t2tlike.training import precision as precision_lib


def shift_right(x):
    """[batch, length, hidden] -> the same, moved one step later with zeros at position 0."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0]])[:, :-1, :]


class T2TModel(keras.Model):
    """Base of every model; see the module docstring."""

    def __init__(self, hparams, problem_hparams, **kwargs):
        super().__init__(**kwargs)
        self._hparams = hparams
        self._problem_hparams = problem_hparams
        self.has_inputs = bool(problem_hparams.has_inputs) and "inputs" in problem_hparams.modality
        hidden = hparams.hidden_size
        smoothing = hparams.label_smoothing
        targets_cls = registry.modality(problem_hparams.modality["targets"])
        self.target_modality = targets_cls(
            problem_hparams.vocab_size["targets"], hidden, label_smoothing=smoothing,
            name="targets_modality",
            **({"tie_softmax": hparams.shared_embedding_and_softmax_weights}
               if targets_cls is registry.modality("symbol") else {}))
        self.input_modality = None
        if self.has_inputs:
            if hparams.get("shared_embedding", False) and \
                    problem_hparams.modality["inputs"] == problem_hparams.modality["targets"] and \
                    problem_hparams.vocab_size["inputs"] == problem_hparams.vocab_size["targets"]:
                self.input_modality = self.target_modality
            else:
                self.input_modality = registry.modality(problem_hparams.modality["inputs"])(
                    problem_hparams.vocab_size["inputs"], hidden, name="inputs_modality")

    # float32, or what trainer.build_model set from hparams.mixed_precision
    precision = "none"

    def __call__(self, *args, **kwargs):
        """Calls (and, the first time, builds) the layers under the model's precision."""
        if self.precision == "none":
            return super().__call__(*args, **kwargs)
        with precision_lib.policy_scope(self.precision):
            return super().__call__(*args, **kwargs)

    @property
    def hparams(self):
        return self._hparams

    @property
    def problem_hparams(self):
        return self._problem_hparams

    # -- the pieces ------------------------------------------------------------------
    def bottom(self, features):
        """Ids -> the body's features (embedded inputs, shifted embedded targets, masks)."""
        out = {}
        if self.has_inputs:
            out["inputs"] = self.input_modality.bottom(features["inputs"])
            out["inputs_mask"] = tf.cast(tf.not_equal(features["inputs"], 0), tf.float32) \
                if features["inputs"].shape.rank == 2 else \
                tf.ones(tf.shape(out["inputs"])[:2], tf.float32)
        out["targets"] = shift_right(self.target_modality.targets_bottom(features["targets"]))
        return out

    def body(self, features, training=False):
        """features (see bottom) -> [batch, tgt_len, hidden]."""
        raise NotImplementedError(f"{type(self).__name__} must implement body")

    def top(self, body_output):
        return self.target_modality.top(body_output)

    def call(self, features, training=False):
        """ids -> logits [batch, tgt_len, vocab]."""
        return self.top(self.body(self.bottom(features), training=training))

    def training_loss(self, logits, features):
        """(weighted loss sum, weight sum) over the targets."""
        return self.target_modality.loss(logits, features["targets"])

    # -- decoding --------------------------------------------------------------------
    def decode_length(self, features, extra_length):
        """How many ids decoding may emit: the input length + extra_length, or, without
        inputs, the longest prompt (features["targets"], see `infer`) + extra_length."""
        if self.has_inputs:
            return tf.shape(features["inputs"])[1] + extra_length
        lengths = self._prompt(features)[1]
        return tf.reduce_max(tf.concat([lengths, [0]], axis=0)) + extra_length   # batch 0 too

    def _prompt(self, features):
        """Without inputs: (prompt [batch, prompt_len] int32, lengths [batch]) from
        features["targets"], right-padded with 0; a row's prompt ends at its first 0 or EOS.
        """
        prompt = tf.cast(features["targets"], tf.int32)
        return prompt, beam_search.prefix_lengths(prompt)

    def decoding_step_fn(self, features, num_samples, decode_length):
        """(step_fn, initial states, context) for the searches in decoding/beam_search.py:
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
        """Decodes. Returns {"outputs": [batch, length] (or [batch, beam, length] with
        return_beams), "scores": [batch] (or [batch, beam])}; ids after EOS are 0.

        Without inputs (a language model), features["targets"] [batch, prompt_len] holds
        prompts, right-padded with 0 (a row's prompt ends at its first 0 or EOS; it may be
        empty). Each row is forced to its prompt, then continued (greedy or beam) until EOS
        or prompt length + extra_length ids, whatever the other rows' lengths; outputs
        start with the prompt (as T2T's), and scores count only the continuation.

        With "class_label" targets: one forward pass, outputs [batch, 1] (or
        [batch, 1, 1]) = the argmax class (no EOS), scores = its log-probability.
        """
        batch = tf.shape(features["inputs"] if self.has_inputs else features["targets"])[0]
        if isinstance(self.target_modality, modalities.ClassLabelModality):
            return self._infer_class(features, batch, return_beams)
        length = self.decode_length(features, extra_length)
        prompt = {}
        if not self.has_inputs:
            prefix, prefix_length = self._prompt(features)
            prompt = dict(prefix=prefix, prefix_length=prefix_length,
                          max_length=prefix_length + extra_length)
        if beam_size <= 1:
            step_fn, states, context = self.decoding_step_fn(features, batch, length)
            ids, scores = beam_search.greedy_search(step_fn, batch, length, states,
                                                    context=context, **prompt)
            return {"outputs": ids[:, tf.newaxis] if return_beams else ids,
                    "scores": scores[:, tf.newaxis] if return_beams else scores}
        step_fn, states, context = self.decoding_step_fn(features, batch * beam_size, length)
        ids, scores = beam_search.beam_search(step_fn, batch, beam_size, length, states,
                                              alpha=alpha, early_stopping=early_stopping,
                                              context=context, **prompt)
        if return_beams:
            return {"outputs": ids, "scores": scores}
        return {"outputs": ids[:, 0], "scores": scores[:, 0]}

    def _infer_class(self, features, batch, return_beams):
        """The most likely class of each example (beam search over one label is pointless)."""
        feats = dict(features, targets=tf.zeros([batch, 1], tf.int32))
        log_probs = tf.nn.log_softmax(tf.cast(self(feats, training=False)[:, 0], tf.float32))
        ids = tf.argmax(log_probs, axis=-1, output_type=tf.int32)[:, tf.newaxis]   # [batch, 1]
        scores = tf.reduce_max(log_probs, axis=-1)                                # [batch]
        if return_beams:
            return {"outputs": ids[:, tf.newaxis], "scores": scores[:, tf.newaxis]}
        return {"outputs": ids, "scores": scores}

"""t2tlike/decoding/search.py: a model's inference over its step function.

`Bigram`, a tiny T2TModel, has no cache: its logits at position i come from the token at
i - 1, the position's timing signal and the mean of the embedded inputs, so the generic
step function (T2TModel.decoding_step_fn, which re-runs the model on the prefix decoded
so far) decodes it. Its `cached_step_fn` computes the same logits one position at a
time, as the Transformer's cache does. Greedy and beam results of the generic path must
equal an explicit step-by-step argmax, the cached path and, for a wide beam, the best
hypothesis found by enumerating them all.
"""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

import t2tlike.models  # noqa: F401  (registers the hparams sets)
from data_generators.problem import default_problem_hparams
from t2tlike.decoding import beam_search, search
from t2tlike.decoding.ids import EOS_ID
from t2tlike.hparams import create_hparams
from t2tlike.layers.positional import add_timing_signal, timing_signal
from t2tlike.t2t_model import T2TModel

VOCAB, HIDDEN = 5, 16
INPUTS = tf.constant([[3, 2, 4, 1], [2, 1, 0, 0], [4, 4, 1, 0]], tf.int32)


class Bigram(T2TModel):
    """logits[i] = top(4 tanh(W (emb(targets[i - 1]) + timing[i] + mean emb(inputs)))), with
    id 0 (padding) ruled out."""

    def __init__(self, hparams, problem_hparams, **kwargs):
        super().__init__(hparams, problem_hparams, **kwargs)
        self.mix = keras.layers.Dense(hparams.hidden_size, activation="tanh", name="mix")

    def _pooled(self, embedded, mask):
        """[batch, in_len, hidden], [batch, in_len] -> [batch, 1, hidden]."""
        mask = mask[..., tf.newaxis]
        return tf.reduce_sum(embedded * mask, axis=1, keepdims=True) / \
            tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)

    def body(self, features, training=False):
        x = add_timing_signal(features["targets"])                   # [batch, len, hidden]
        if self.has_inputs:
            x += self._pooled(features["inputs"], features["inputs_mask"])
        return 4.0 * self.mix(x)                                     # sharper distributions

    def top(self, body_output):
        """The symbol top, with padding (id 0) ruled out as an output."""
        logits = super().top(body_output)
        return logits - 30.0 * tf.one_hot(0, logits.shape[-1])

    def cached_step_fn(self, features, num_samples, decode_length):
        """One position per step: nothing of the prefix but the last token is needed."""
        context = {}
        if self.has_inputs:
            inputs = features["inputs"]
            mask = tf.cast(tf.not_equal(inputs, 0), tf.float32)
            context = {"pooled": self._pooled(self.input_modality.bottom(inputs), mask)}
        signal = timing_signal(decode_length, self.hparams.hidden_size)[0]

        def step_fn(prev_ids, i, states, context):
            x = self.target_modality.targets_bottom(prev_ids[:, tf.newaxis]) + signal[i]
            if context:
                pooled = context["pooled"]
                x += tf.repeat(pooled, tf.shape(x)[0] // tf.shape(pooled)[0], axis=0)
            return self.top(4.0 * self.mix(x))[:, 0], states

        return step_fn, {}, context


def make_model(has_inputs=True, seed=0, vocab=VOCAB):
    keras.utils.set_random_seed(seed)
    hp = create_hparams("transformer_tiny").replace(hidden_size=HIDDEN)
    php = default_problem_hparams()
    php.modality = {"inputs": "symbol", "targets": "symbol"} if has_inputs else \
        {"targets": "symbol"}
    php.vocab_size = {"inputs": vocab, "targets": vocab} if has_inputs else {"targets": vocab}
    php.has_inputs = has_inputs
    model = Bigram(hp, php)
    features = {"targets": tf.constant([[2, 1]])}
    if has_inputs:
        features["inputs"] = tf.constant([[2, 1]])
    model(features)                                                  # builds the weights
    return model


@pytest.fixture(scope="module")
def model():
    """Greedy on INPUTS: rows that end after 4 and 3 ids, and one that runs to the limit."""
    return make_model(seed=1)


def log_probs(model, features, targets):
    """log-softmax of the model's logits [batch, len, vocab] for targets [batch, len]."""
    logits = model({**features, "targets": tf.constant(targets, tf.int32)})
    return tf.nn.log_softmax(logits).numpy().astype(np.float64)


def explicit_greedy(model, features, length, prompts=None, extra_length=None):
    """Step by step: run the model on the row's ids so far, take the argmax at position i
    (or the prompt's id), stop at EOS or at `length` (with prompts, at the prompt's length
    + extra_length). -> (ids [batch, length], scores [batch]) numpy."""
    batch = len(prompts) if prompts is not None else int(features["inputs"].shape[0])
    ids = np.zeros([batch, length], np.int64)
    scores = np.zeros([batch])
    for row in range(batch):
        prompt = prompts[row] if prompts is not None else []
        limit = len(prompt) + extra_length if prompts is not None else length
        row_features = {k: v[row:row + 1] for k, v in features.items()}
        for i in range(limit):
            lp = log_probs(model, row_features, ids[row:row + 1])[0, i]
            token = prompt[i] if i < len(prompt) else int(np.argmax(lp))
            scores[row] += 0.0 if i < len(prompt) else lp[token]
            ids[row, i] = token
            if token == EOS_ID and i >= len(prompt):
                break
    return ids, scores


# -- the generic (re-running) step function -----------------------------------------------
def test_generic_greedy_equals_an_explicit_step_by_step_argmax(model):
    features = {"inputs": INPUTS}
    out = model.infer(features, beam_size=1, extra_length=2)
    length = INPUTS.shape[1] + 2
    assert out["outputs"].shape == (3, length) and out["scores"].shape == (3,)
    ids, scores = explicit_greedy(model, features, length)
    np.testing.assert_array_equal(out["outputs"].numpy(), ids)
    np.testing.assert_allclose(out["scores"].numpy(), scores, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("beam_size", [1, 2, 3])
def test_generic_path_equals_the_cached_path(model, beam_size):
    features = {"inputs": INPUTS}
    kwargs = dict(beam_size=beam_size, alpha=0.6, extra_length=3, return_beams=True)
    generic = model.infer(features, **kwargs)
    cached = search.decode(model.cached_step_fn, features, **kwargs)
    assert generic["outputs"].shape == (3, beam_size, INPUTS.shape[1] + 3)
    np.testing.assert_array_equal(generic["outputs"].numpy(), cached["outputs"].numpy())
    np.testing.assert_allclose(generic["scores"].numpy(), cached["scores"].numpy(),
                               rtol=1e-4, atol=1e-5)


def test_generic_beam_search_finds_the_exhaustive_best():
    """Vocabulary 4 (padding ruled out) and length 3: a beam of 8 keeps every hypothesis
    (2 * 2 live ones, times 4 tokens, are the 2 * 8 candidates of the last step), so it
    must find the best of all EOS-terminated sequences."""
    model = make_model(seed=3, vocab=4)
    features = {"inputs": tf.constant([[3, 1]], tf.int32)}
    length, alpha = 3, 0.6
    best, best_score = None, -np.inf
    for n in range(1, length + 1):
        for prefix in itertools.product([2, 3], repeat=n - 1):
            seq = list(prefix) + [EOS_ID]
            lp = log_probs(model, features, [seq + [0] * (length - n)])[0]
            score = sum(lp[t, token] for t, token in enumerate(seq)) / ((5.0 + n) / 6.0) ** alpha
            if score > best_score:
                best, best_score = seq, score
    out = model.infer(features, beam_size=8, alpha=alpha, extra_length=length - 2)
    assert best == [3, 3, 1]                     # not found by greedy: a real search
    assert out["outputs"][0].numpy().tolist() == best + [0] * (length - len(best))
    assert float(out["scores"][0]) == pytest.approx(best_score, rel=1e-4)


@pytest.mark.parametrize("seed", [0, 1])      # rows that end at EOS; rows cut at their limit
def test_generic_greedy_of_a_language_model_forces_each_prompt(seed):
    lm = make_model(has_inputs=False, seed=seed)
    prompts = [[3, 2], [], [4]]
    padded = tf.constant([p + [0] * (2 - len(p)) for p in prompts], tf.int32)
    out = lm.infer({"targets": padded}, beam_size=1, extra_length=3)
    assert out["outputs"].shape == (3, 2 + 3)
    ids, scores = explicit_greedy(lm, {}, 2 + 3, prompts=prompts, extra_length=3)
    np.testing.assert_array_equal(out["outputs"].numpy(), ids)
    np.testing.assert_allclose(out["scores"].numpy(), scores, rtol=1e-4, atol=1e-5)
    cached = search.decode(lm.cached_step_fn, {"targets": padded}, beam_size=2,
                           extra_length=3, has_inputs=False, return_beams=True)
    generic = lm.infer({"targets": padded}, beam_size=2, extra_length=3, return_beams=True)
    np.testing.assert_array_equal(generic["outputs"].numpy(), cached["outputs"].numpy())


# -- shapes and checks ---------------------------------------------------------------------
def test_decode_length_is_the_input_or_the_longest_prompt_plus_extra_length():
    assert int(search.decode_length({"inputs": INPUTS}, 5)) == 4 + 5
    prompts = tf.constant([[3, 2, 1, 4], [2, 0, 0, 0]])
    assert int(search.decode_length({"targets": prompts}, 5, has_inputs=False)) == 2 + 5
    empty = tf.zeros([0, 3], tf.int32)
    assert int(search.decode_length({"targets": empty}, 5, has_inputs=False)) == 5


@pytest.mark.parametrize("beam_size", [1, 2])
def test_return_beams_adds_a_beam_axis(model, beam_size):
    best = model.infer({"inputs": INPUTS}, beam_size=beam_size, extra_length=2)
    every = model.infer({"inputs": INPUTS}, beam_size=beam_size, extra_length=2,
                        return_beams=True)
    assert best["outputs"].shape == (3, 6) and best["scores"].shape == (3,)
    assert every["outputs"].shape == (3, beam_size, 6) and every["scores"].shape == (3, beam_size)
    np.testing.assert_array_equal(every["outputs"][:, 0], best["outputs"])
    np.testing.assert_array_equal(every["scores"][:, 0], best["scores"])


def test_classify_is_the_argmax_class_and_its_log_probability():
    logits = tf.constant([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    out = search.classify(logits)
    assert out["outputs"].numpy().tolist() == [[1], [0]]
    expected = [2.0 - np.log(1 + np.exp(2) + np.exp(1)), 3.0 - np.log(np.exp(3) + 2)]
    np.testing.assert_allclose(out["scores"].numpy(), expected, rtol=1e-6)
    beams = search.classify(logits, return_beams=True)
    assert beams["outputs"].shape == (2, 1, 1) and beams["scores"].shape == (2, 1)


def test_ranks_are_checked(model):
    with pytest.raises(ValueError, match=r"features\['inputs'\].*\[batch, length\]"):
        model.infer({"inputs": tf.constant([3, 2, 1])})
    with pytest.raises(ValueError, match=r"prompts \[batch, prompt_len\].*rank 3"):
        search.decode_length({"targets": tf.zeros([1, 2, 3], tf.int32)}, 2, has_inputs=False)
    with pytest.raises(ValueError, match=r"logits \[batch, classes\]"):
        search.classify(tf.zeros([2, 1, 3]))
    step = lambda prev, i, states: (tf.zeros([tf.shape(prev)[0], 4]), states)  # noqa: E731
    with pytest.raises(ValueError, match=r"prefix \[batch, prefix_len\]"):
        beam_search.greedy_search(step, 1, 3, {}, prefix=tf.constant([2, 3]))
    with pytest.raises(ValueError, match="beam_size"):
        beam_search.beam_search(step, 1, 0, 3, {})

"""t2tlike/ctranslate2_export.py: a CTranslate2 export translates as our own search does.

The models are untrained and tiny; so that their decodes vary and end in EOS, like a
trained model's, the softmax is fitted in one least-squares solve to copy random strings
from the decoder's (random) features: no training loop, which would cost far more time.

Measured on these models, 20 inputs each: greedy 20/20 identical tokens; beam 2 with
alpha=0 and early_stopping=True (CTranslate2's length_penalty=0 and patience 1: an entry
ends once beam_size hypotheses have ended) 20/20; log-probabilities equal to 1e-4. Two
rules differ and are left out here: with T2T's default stopping rule our search goes on and
finds better-scoring hypotheses (beams then agreed on 13 of 20), and a beam cut at the
length limit competes with ended ones in CTranslate2, while ours prefers any that ended
(seen on a random tied-softmax model whose beams mostly run to the limit: 11 of 20).
"""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

ctranslate2 = pytest.importorskip("ctranslate2")

import helpers  # noqa: E402
import t2tlike.models  # noqa: E402,F401  (registers the model and its hparams sets)
from data_generators import algorithmic  # noqa: E402
from t2tlike import ctranslate2_export  # noqa: E402
from t2tlike.ctranslate2_export import export_ctranslate2  # noqa: E402
from t2tlike.decoding.ids import EOS_ID  # noqa: E402
from t2tlike.errors import UserError  # noqa: E402
from t2tlike.hparams import create_hparams  # noqa: E402
from t2tlike.t2t_model import build_model  # noqa: E402

EXTRA_LENGTH = 5
TINY = dict(num_hidden_layers=2, hidden_size=32, filter_size=64, num_heads=4,
            shared_embedding_and_softmax_weights=False)
VOCAB = 22                       # _problem's: PAD, EOS and 20 symbols
RELATIVE = dict(pos="none", self_attention_type="dot_product_relative",
                max_relative_position=3)


def _problem():
    """Strings of 20 symbols: ids 2..21, encoded by the integer TextEncoder."""
    return helpers.tiny_problem(algorithmic.AlgorithmicShiftDecimal40)


def _strings(n, seed):
    """n random strings of 2..8 ids -> (lists, ids [n, longest + 1] ending in EOS, padded)."""
    rng = np.random.default_rng(seed)
    strings = [list(map(int, rng.integers(2, VOCAB, k))) for k in rng.integers(2, 9, n)]
    ids = np.zeros([n, max(map(len, strings)) + 1], np.int32)
    for row, s in enumerate(strings):
        ids[row, :len(s) + 1] = s + [EOS_ID]
    return strings, ids


def _model(**overrides):
    """A tiny Transformer, built, its softmax fitted to copy (see the module docstring)."""
    keras.utils.set_random_seed(0)
    hp = create_hparams("transformer_tiny").replace(**{**TINY, **overrides})
    problem = _problem()
    model = build_model("transformer", hp, problem.get_hparams(hp))
    assert model.problem_hparams.vocab_size["targets"] == VOCAB
    _, ids = _strings(256, seed=2)
    features = {"inputs": tf.constant(ids), "targets": tf.constant(ids)}
    model(features)                                                 # builds the weights
    if not model.target_modality.tie_softmax:
        h = model.body(model.bottom(features)).numpy()[ids != 0]    # [tokens, hidden]
        onehot = 5.0 * np.eye(VOCAB)[ids[ids != 0]]                 # logits of 5 to aim for
        w = np.linalg.solve(h.T @ h + 1e-2 * np.eye(h.shape[1]), h.T @ onehot)
        model.target_modality.softmax_weights.assign(w.T.astype(np.float32))
    return model, hp, problem.get_feature_encoders()


def _until_eos(row):
    """Our output row -> its ids before EOS (all of them when it ran to the limit)."""
    row = [int(i) for i in row]
    return row[:row.index(EOS_ID)] if EOS_ID in row else row


def _ours(model, ids, beam_size):
    """model.infer -> [(ids before EOS, score)], in CTranslate2's search: alpha 0 (its
    length_penalty 0), early_stopping (its patience 1)."""
    out = model.infer({"inputs": tf.constant(ids)}, beam_size=beam_size, alpha=0.0,
                      extra_length=EXTRA_LENGTH, early_stopping=True)
    return [(_until_eos(r), float(s)) for r, s in zip(out["outputs"].numpy(),
                                                     out["scores"].numpy())]


def _theirs(translator, encoders, strings, ids, beam_size):
    """CTranslate2's translate_batch on the strings' tokens (it adds EOS) -> [(ids, score)],
    with our length limit (the longest input with its EOS + EXTRA_LENGTH), EOS allowed as
    the first token as in ours."""
    results = translator.translate_batch(
        [encoders["inputs"].decode_list(s) for s in strings], beam_size=beam_size,
        length_penalty=0.0, min_decoding_length=0,
        max_decoding_length=ids.shape[1] + EXTRA_LENGTH, return_scores=True)
    to_id = {token: i for i, token in enumerate(encoders["targets"].decode_list(range(VOCAB)))}
    return [([to_id[t] for t in r.hypotheses[0]], r.scores[0]) for r in results]


def _assert_same(ours, theirs):
    assert [o[0] for o in ours] == [t[0] for t in theirs]
    np.testing.assert_allclose([o[1] for o in ours], [t[1] for t in theirs], atol=1e-4)


VARIANTS = {
    "timing-shared": dict(shared_embedding=True),                  # one embedding
    "relative-separate": dict(RELATIVE, shared_embedding=False),   # two embeddings
    # transformer_base's tied softmax (left random: the fit needs a softmax of its own)
    "tied": dict(num_hidden_layers=1, shared_embedding_and_softmax_weights=True),
}


@pytest.fixture(scope="module")
def models():
    """variant -> (model, hparams, encoders), each built once (building costs seconds)."""
    cache = {}

    def get(variant):
        if variant not in cache:
            cache[variant] = _model(**VARIANTS[variant])
        return cache[variant]
    return get


def _export(models, variant, folder, **kwargs):
    model, hp, encoders = models(variant)
    return export_ctranslate2(model, hp, encoders["inputs"], encoders["targets"],
                              str(folder), **kwargs)


@pytest.mark.parametrize("variant", ["timing-shared", "relative-separate"])
def test_ctranslate2_decodes_equal_ours_greedy_and_beam(tmp_path, models, variant):
    model, _, encoders = models(variant)
    translator = ctranslate2.Translator(_export(models, variant, tmp_path / "ct2"),
                                        device="cpu", intra_threads=1)
    assert os.listdir(tmp_path) == ["ct2"]                          # no temporary folder left
    strings, ids = _strings(20, seed=1)
    greedy = _ours(model, ids, 1)
    _assert_same(greedy, _theirs(translator, encoders, strings, ids, 1))
    _assert_same(_ours(model, ids, 2), _theirs(translator, encoders, strings, ids, 2))
    # The decodes vary and most end in EOS, as a trained model's do.
    assert len({tuple(out) for out, _ in greedy}) > 10
    assert sum(len(out) < ids.shape[1] + EXTRA_LENGTH for out, _ in greedy) >= 15


def test_a_tied_softmax_and_a_quantized_export(tmp_path, models):
    """The tied softmax keeps the padding row the exported embedding zeroes; int8 weights
    make a smaller model that loads and answers."""
    model, _, encoders = models("tied")
    strings, ids = _strings(20, seed=1)
    out = _export(models, "tied", tmp_path / "float32")
    ours = _ours(model, ids, 1)
    _assert_same(ours, _theirs(ctranslate2.Translator(out), encoders, strings, ids, 1))
    int8 = _export(models, "tied", tmp_path / "int8", quantization="int8")
    assert os.path.getsize(os.path.join(int8, "model.bin")) < \
        os.path.getsize(os.path.join(out, "model.bin"))
    assert len(_theirs(ctranslate2.Translator(int8), encoders, strings, ids, 1)) == 20


def test_special_tokens_and_vocabulary(tmp_path, models):
    out = _export(models, "timing-shared", tmp_path / "ct2")
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert (config["eos_token"], config["decoder_start_token"], config["add_source_eos"]) == \
        ("<EOS>", "<pad>", True)
    with open(os.path.join(out, "shared_vocabulary.json"), encoding="utf-8") as f:
        assert json.load(f) == ["<pad>", "<EOS>"] + [str(i) for i in range(20)]


def _refusal(tmp_path, model, hp, encoders, **kwargs):
    with pytest.raises(UserError) as e:
        export_ctranslate2(model, hp, encoders["inputs"], encoders["targets"],
                           str(tmp_path / "ct2"), **kwargs)
    assert not (tmp_path / "ct2").exists()
    return str(e.value)


def test_what_ctranslate2_cannot_express_is_refused_in_one_message(tmp_path):
    hp = create_hparams("transformer_tiny").replace(**TINY, **RELATIVE).replace(pos="timing")
    problem = _problem()
    model = build_model("transformer", hp, problem.get_hparams(hp))
    message = _refusal(tmp_path, model, hp, problem.get_feature_encoders())
    assert "relative self-attention together with pos=timing" in message

    lm_problem = helpers.LetterRuns()
    lm_hp = create_hparams("transformer_tiny").replace(**TINY)
    lm = build_model("transformer", lm_hp, lm_problem.get_hparams(lm_hp))
    encoders = {"inputs": None, "targets": None}
    assert "language model without inputs" in _refusal(tmp_path, lm, lm_hp, encoders)


def test_bad_arguments_are_user_errors_and_a_failed_export_leaves_nothing(tmp_path, models,
                                                                          monkeypatch):
    model, hp, encoders = models("timing-shared")
    assert "quantization" in _refusal(tmp_path, model, hp, encoders, quantization="int3")

    class Repeating:
        def decode_list(self, ids):
            return ["x" for _ in ids]
    assert "repeats tokens ['x']" in _refusal(tmp_path, model, hp,
                                              {"inputs": Repeating(), "targets": Repeating()})

    (tmp_path / "ct2").mkdir()
    with pytest.raises(UserError, match="exists already"):
        _export(models, "timing-shared", tmp_path / "ct2")
    (tmp_path / "ct2").rmdir()

    def broken(*args):
        raise RuntimeError("disk full")
    monkeypatch.setattr(ctranslate2_export, "transformer_spec", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _export(models, "timing-shared", tmp_path / "ct2")
    assert os.listdir(tmp_path) == []


def test_the_converter_is_ctranslate2s():
    assert issubclass(ctranslate2_export.converter_class(), ctranslate2.converters.Converter)

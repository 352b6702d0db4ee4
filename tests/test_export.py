"""t2tlike/export.py on tiny untrained models in this process: the text signature of an
export answers what the Decoder (t2t-decoder's) gives on the same model and decode
hparams, for encoders and models the CLI test (tests/bin/test_exporter.py) does not reach."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import t2tlike.models  # noqa: F401  (registers the models and hparams sets)
from data_generators.problem import default_problem_hparams
from data_generators.text_encoder import ByteTextEncoder, ClassLabelEncoder, TokenTextEncoder
from t2tlike import export
from t2tlike.decoding import decoder as decoder_lib
from t2tlike.hparams import create_hparams
from t2tlike.t2t_model import build_model

TOKENS = "the a cat dog sat on mat red big small blue runs".split()


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def tiny_model(name, hparams_set, modality, vocab_size, **overrides):
    """Model `name` at a tiny size, untrained, its variables built; `modality` and
    `vocab_size`: {feature: ...} of the problem (no "inputs": a language model)."""
    hp = create_hparams(hparams_set).replace(**overrides).freeze()
    php = default_problem_hparams()
    php.modality, php.vocab_size = modality, vocab_size
    php.has_inputs = "inputs" in modality
    model = build_model(name, hp, php)
    model({"inputs": tf.constant([[2, 1]]), "targets": tf.constant([[2, 1]])})
    modality = model.target_modality
    top = modality.embedding if getattr(modality, "tie_softmax", False) else \
        getattr(modality, "softmax_weights", None)
    if top is not None:   # EOS's softmax row shrunk: some words before EOS, untrained
        top.assign(tf.tensor_scatter_nd_update(top, [[1]], top[1:2] * 0.3))
    return model


def exported(model, input_encoder, target_encoder, decode, path):
    """The loaded export's serving_default, and the Decoder on `model` with decode hparams
    `decode` (one batch for every line, so both see the same padding)."""
    dhp = decoder_lib.decode_hparams(decode + ",batch_size=64")
    export.export_model(model, input_encoder, target_encoder, dhp, str(path))
    saved = [name for name, _ in tf.train.list_variables(str(path / "variables" / "variables"))
             if name.endswith("VARIABLE_VALUE")]
    assert len(saved) == len(model.variables)   # every weight, once
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    return signature, decoder_lib.Decoder(model, input_encoder, target_encoder, dhp)


def texts(signature, lines):
    """serving_default's outputs for `lines` as the Decoder writes them (with return_beams,
    a line's beams joined by tabs), and the scores."""
    result = signature(tf.constant(lines))
    outputs = [t.decode("utf-8") if isinstance(t, bytes) else "\t".join(
        b.decode("utf-8") for b in t) for t in result["outputs"].numpy()]
    return outputs, result["scores"].numpy()


def test_an_lstm_export_with_a_token_vocabulary_answers_text_as_the_decoder(tmp_path):
    """lstm_seq2seq_attention, beam search; the token vocabulary's tables travel in the
    SavedModel: unknown words and Unicode whitespace are encoded as encode() does."""
    vocab = tmp_path / "vocab.tokens"
    vocab.write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    encoder = TokenTextEncoder(str(vocab))
    size = {"inputs": encoder.vocab_size, "targets": encoder.vocab_size}
    model = tiny_model("lstm_seq2seq_attention", "lstm_bahdanau_attention", {
        "inputs": "symbol", "targets": "symbol"}, size, num_hidden_layers=1, hidden_size=32,
        attention_layer_size=32)
    signature, decoder = exported(model, encoder, encoder, "beam_size=2,alpha=0.6,"
                                  "extra_length=4", tmp_path / "export")
    vocab.unlink()    # the export needs no file beside it
    lines = ["the cat sat", "a dog\u00a0runs on the mat", "zebra cat", "", "big\tred  blue"]
    outputs, scores = texts(signature, lines)
    assert outputs == decoder.decode_lines(lines)
    assert len(set(outputs)) > 2 and scores.shape == (len(lines),)


def test_a_language_model_export_continues_prompts_as_the_decoder(tmp_path):
    """A decoder-only Transformer: a prompt in, the prompt and its continuation out; an
    empty prompt; prompts over max_input_size keep their last ids, as t2t-decoder."""
    encoder = ByteTextEncoder()
    model = tiny_model("transformer", "transformer_tiny", {"targets": "symbol"},
                       {"targets": encoder.vocab_size}, num_hidden_layers=1, hidden_size=32,
                       filter_size=64)
    signature, decoder = exported(model, None, encoder, "beam_size=1,extra_length=5,"
                                  "max_input_size=4", tmp_path / "export")
    lines = ["klm", "", "abcdefgh", "ünï €", "xy"]
    outputs, _ = texts(signature, lines)
    assert outputs == decoder.decode_lines(lines)
    assert outputs[0].startswith("klm") and outputs[2].startswith("efgh")
    assert len(set(outputs)) == len(lines)


def test_a_classifier_export_answers_the_label_as_the_decoder(tmp_path):
    """Class ids are kept whole (0 and 1 are labels, not PAD and EOS) and named by the
    label encoder; one beam, the label's log-probability as score."""
    inputs, labels = ByteTextEncoder(), ClassLabelEncoder(["no", "yes"])
    model = tiny_model("transformer", "transformer_tiny", {"inputs": "symbol", "targets":
                       "class_label"}, {"inputs": inputs.vocab_size, "targets": 2},
                       num_hidden_layers=1, hidden_size=32, filter_size=64)
    lines = ["a cat", "zzzz", "", "the quick brown fox", "ünï €", "1 0 1", "no", "yes"]
    ids = tf.ragged.constant([inputs.encode(line) + [1] for line in lines]).to_tensor()
    logits = model({"inputs": ids, "targets": tf.zeros([len(lines), 1], tf.int32)})[:, 0]
    margin = np.median(logits[:, 1] - logits[:, 0])     # the bias that answers both labels
    model.target_modality.classifier.bias.assign([0.0, -margin])
    signature, decoder = exported(model, inputs, labels, "beam_size=3", tmp_path / "e")
    outputs, scores = texts(signature, lines)
    assert outputs == decoder.decode_lines(lines)
    assert set(outputs) == {"no", "yes"} and scores.shape == (len(lines),)
    assert (scores < 0).all() and (scores > np.log(0.5) - 1e-6).all()


def test_lines_are_stripped_as_the_decoder_strips_them():
    spaces = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    lines = [spaces + "a b" + spaces[::-1], " \u3000x\u00a0y\u2029", "", "\u200bz\u200b", "\x85"]
    stripped = [s.decode("utf-8") for s in export.strip(tf.constant(lines)).numpy()]
    assert stripped == [line.strip() for line in lines]

"""t2tlike/decoding/decoder.py: file decoding keeps line order; scoring; restore errors."""
import pytest
import tensorflow as tf

from t2tlike.decoding import decoder as decoder_lib
from t2tlike.errors import UserError


class _EchoModel:
    """Stands in for a model: 'decodes' each input to itself (ids before EOS)."""

    def infer(self, features, beam_size, alpha, extra_length, return_beams, early_stopping=False):
        inputs = features["inputs"]
        beams = tf.stack([inputs] * max(beam_size, 1), axis=1)
        scores = -tf.cast(tf.reduce_sum(tf.cast(inputs > 0, tf.int32), axis=1), tf.float32)
        return {"outputs": beams, "scores": tf.stack([scores] * max(beam_size, 1), axis=1)}


class _WordEncoder:
    vocab = ["<pad>", "<EOS>", "a", "b", "c", "d"]

    def encode(self, s):
        return [self.vocab.index(w) for w in s.split()]

    def decode(self, ids):
        return " ".join(self.vocab[i] for i in ids)


def _decoder(**overrides):
    hp = decoder_lib.decode_hparams().replace(batch_size=2, **overrides)
    return decoder_lib.Decoder(_EchoModel(), _WordEncoder(), _WordEncoder(), hp)


def test_decode_from_file_restores_the_original_order(tmp_path):
    lines = ["a b c d", "b", "c c", "d a b", "a"]
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("\n".join(lines) + "\n")
    outputs = _decoder().decode_from_file(str(src), str(dst))
    assert outputs == lines
    assert dst.read_text() == "\n".join(lines) + "\n"
    assert not (tmp_path / "out.txt.tmp").exists()


def test_return_beams_and_scores(tmp_path):
    out = _decoder(beam_size=2, return_beams=True, write_beam_scores=True).decode_lines(["a b"])
    assert out == ["a b\t-3.0000\ta b\t-3.0000"]   # EOS counts as a token in the stand-in


def test_num_samples_and_max_input_size(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("a b c\nb c\nc\n")
    assert _decoder(num_samples=2, max_input_size=1).decode_from_file(str(src)) == ["a", "b"]


def test_missing_and_non_utf8_input_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        _decoder().decode_from_file(str(tmp_path / "missing.txt"))
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match="not valid UTF-8"):
        _decoder().decode_from_file(str(bad))


def test_cut_and_exact_match():
    assert decoder_lib.cut([5, 3, 1, 4, 0]) == [5, 3]
    assert decoder_lib.exact_match(["a b", "c"], ["a b ", "d"]) == 0.5
    with pytest.raises(UserError, match="one line per input"):
        decoder_lib.exact_match(["a"], ["a", "b"])


def test_restore_without_checkpoint(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        decoder_lib.restore(None, str(tmp_path))
    with pytest.raises(UserError, match="does not exist"):
        decoder_lib.restore(None, str(tmp_path / "model-7"))


class _PythonBranchModel(_EchoModel):
    """A model whose code branches in Python on a tensor (it needs AutoGraph)."""

    def infer(self, features, **kwargs):
        if tf.reduce_any(features["inputs"] > 4):        # a 'd' anywhere: echo reversed
            features = {"inputs": tf.reverse(features["inputs"], axis=[1])}
        return super().infer(features, **kwargs)


def test_a_model_that_branches_in_python_on_tensors_still_decodes():
    hp = decoder_lib.decode_hparams().replace(batch_size=1, beam_size=1)
    dec = decoder_lib.Decoder(_PythonBranchModel(), _WordEncoder(), _WordEncoder(), hp)
    assert dec.decode_lines(["a b", "c d a"]) == ["a b", ""]   # reversed: EOS comes first
    assert dec.decode_ids([[2, 5]])[0][0][0] == [5, 2]

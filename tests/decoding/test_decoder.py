"""t2tlike/decoding/decoder.py: file and split decoding keep line order; a file is streamed
a buffer at a time and a killed decode resumes; long inputs are cut; scoring;
checkpoints and hparams of a run; restore errors."""
import json
import os
import threading

import keras

import numpy as np
import pytest
import sacrebleu
import tensorflow as tf

import t2tlike.models  # noqa: F401  (registers the hparams sets)
from data_generators.problem import default_problem_hparams
from data_generators.text_encoder import ByteTextEncoder
from t2tlike.decoding import decoder as decoder_lib
from t2tlike.errors import UserError
from t2tlike.hparams import create_hparams
from t2tlike.t2t_model import build_model
from helpers import tiny_transformer_hparams


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


LINES = ["a b c d", "b", "c c", "d a b", "a", "", "b b a"]


def _watched(decoder, monkeypatch, before_each):
    """Calls `before_each(number of lines)` before each of `decoder`'s buffers."""
    real = decoder.decode_encoded
    monkeypatch.setattr(decoder, "decode_encoded", lambda encoded, log=True: (
        before_each(len(encoded)), real(encoded, log))[1])
    return decoder


def test_a_file_is_decoded_a_buffer_at_a_time_and_written_as_it_goes(tmp_path, monkeypatch):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("\n".join(LINES) + "\n")
    partial, seen = tmp_path / "out.txt.incomplete", []
    decoder = _watched(_decoder(buffer_size=3), monkeypatch, lambda n: seen.append(
        (n, partial.read_text().count("\n"))))
    assert decoder.decode_from_file(str(src), str(dst), keep=False) == 7
    assert seen == [(3, 0), (3, 3), (1, 6)]    # at most 3 lines held; each buffer written
    assert dst.read_text() == "\n".join(LINES) + "\n"
    assert not (tmp_path / "out.txt.incomplete").exists()


def test_parallel_batches_are_decoded_at_once_longest_first_and_keep_the_order(monkeypatch):
    decoder, started = _decoder(parallel_batches=2), []
    together = threading.Barrier(2, timeout=10)   # breaks unless two batches run at once
    real = decoder.decode_ids

    def decode_ids(batch):
        started.append(max(len(ids) for ids in batch))
        together.wait()
        return real(batch)
    monkeypatch.setattr(decoder, "decode_ids", decode_ids)
    lines = LINES + ["c"]                                    # 8 lines: 4 batches of 2
    assert decoder.decode_lines(lines) == lines
    assert len(started) == 4 and started[0] == max(len(x.split()) + 1 for x in lines)
    with pytest.raises(UserError, match="parallel_batches=-1: expected 0"):
        _decoder(parallel_batches=-1)


@pytest.mark.parametrize("cores, wanted, batches, threads", [
    (2, 0, 2, (1, 2)), (2, 1, 1, None), (2, 3, 3, (1, 3)), (1, 0, 1, None),
    (16, 0, 8, None), (16, 16, 16, (1, 16))])
def test_parallel_batches_and_their_threads_follow_the_cores(monkeypatch, cores, wanted,
                                                             batches, threads):
    monkeypatch.setattr(decoder_lib, "cpu_cores", lambda: cores)
    hp = decoder_lib.decode_hparams().replace(parallel_batches=wanted)
    assert decoder_lib.parallel_batches(hp) == batches
    assert decoder_lib.batch_threads(hp) == threads


def test_batches_decoded_at_once_give_the_beams_and_scores_of_one_at_a_time():
    """A tiny untrained Transformer, one tf.function called from two threads."""
    keras.utils.set_random_seed(0)
    php = default_problem_hparams()
    php.modality = {"inputs": "symbol", "targets": "symbol"}
    php.vocab_size = {"inputs": 258, "targets": 258}
    model = build_model("transformer", tiny_transformer_hparams(), php)
    model({"inputs": tf.constant([[2, 1]]), "targets": tf.constant([[2, 1]])})
    lines = ["abc", "hello there", "x", "", "zzzz zz", "the cat sat", "ünï", "qq"]
    hp = decoder_lib.decode_hparams("beam_size=2,extra_length=4,batch_size=2,"
                                    "return_beams=True,write_beam_scores=True")
    decoder = decoder_lib.Decoder(model, ByteTextEncoder(), ByteTextEncoder(), hp)
    outputs = []
    for n in (1, 3):
        decoder.hparams = hp.replace(parallel_batches=n)
        outputs.append(decoder.decode_lines(lines))
    assert outputs[0] == outputs[1] and len(set(outputs[0])) > 4


class Killed(BaseException):
    """Stands for SIGKILL (nothing catches it)."""


def test_a_killed_decode_resumes_after_the_lines_already_written(tmp_path, monkeypatch):
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("\n".join(LINES) + "\n")
    calls = []

    def dies_on_the_third_buffer(n):
        calls.append(n)
        if len(calls) == 3:
            raise Killed()

    decoder = _decoder(buffer_size=2)
    with monkeypatch.context() as m:
        _watched(decoder, m, dies_on_the_third_buffer)
        with pytest.raises(Killed):
            decoder.decode_from_file(str(src), str(dst))
    partial = tmp_path / "out.txt.incomplete"
    assert partial.read_text() == "a b c d\nb\nc c\nd a b\n" and not dst.exists()
    with open(partial, "a") as f:
        f.write("a")                       # an output cut short by the kill
    calls.clear()
    _watched(decoder, monkeypatch, calls.append)
    assert decoder.decode_from_file(str(src), str(dst), resume=True) == LINES[4:]
    assert calls == [2, 1]                 # only the 3 lines not written yet
    assert dst.read_text() == "\n".join(LINES) + "\n" and not partial.exists()
    assert decoder.decode_from_file(str(src), str(dst), resume=True) == []   # complete

    partial.write_text("stale\n")          # without resume: started afresh
    assert decoder.decode_from_file(str(src), str(dst)) == LINES
    assert dst.read_text() == "\n".join(LINES) + "\n"


def test_a_multi_character_delimiter_is_counted_across_reads(tmp_path):
    path = tmp_path / "partial"
    path.write_bytes(b"x" * ((1 << 20) - 1) + b"||y||z|")
    assert decoder_lib._complete_records(str(path), "||") == 2
    assert path.read_bytes().endswith(b"x||y||")


def test_an_input_longer_than_max_input_size_is_cut_with_one_warning(monkeypatch):
    warnings = []
    monkeypatch.setattr(decoder_lib.logging, "warning", lambda fmt, *a: warnings.append(fmt % a))
    decoder = _decoder(max_input_size=3)
    assert decoder.decode_lines(["a b c d a b", "a b", "d d d d"]) == ["a b c", "a b", "d d d"]
    assert decoder.cut_inputs == 2 and len(warnings) == 1
    assert "An input of 6 ids is longer than max_input_size=3: its first 3" in warnings[0]


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


def test_exact_match():
    assert decoder_lib.exact_match(["a b", "c"], ["a b ", "d"]) == 0.5
    assert decoder_lib.exact_match([], []) == 0.0
    with pytest.raises(UserError, match="one line per input"):
        decoder_lib.exact_match(["a"], ["a", "b"])


def test_score_report_is_exact_match_then_sacrebleu_with_its_signature():
    hyps, refs = ["the cat sat on the mat", "a b c"], ["the cat sat on the mat", "a b d"]
    metric = sacrebleu.BLEU()
    score = metric.corpus_score(hyps, [refs])
    assert decoder_lib.score_report(hyps, refs).split("\n") == [
        "exact match: 0.5000 (1/2)", f"BLEU = {score.score:.2f}",
        score.format(signature=str(metric.get_signature()))]
    with pytest.raises(UserError, match="empty corpus"):
        decoder_lib.score_report([], [])


def test_restore_without_checkpoint(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        decoder_lib.restore(None, str(tmp_path))
    with pytest.raises(UserError, match="does not exist"):
        decoder_lib.restore(None, str(tmp_path / "model-7"))
    # A run's output_dir that is not there is a run without checkpoints, not a prefix.
    with pytest.raises(UserError, match="no checkpoint in .*Train first with t2t-trainer"):
        decoder_lib.checkpoint_prefix(str(tmp_path / "no_run"), run_dir=True)


def test_checkpoint_prefix_finds_the_latest_checkpoint(tmp_path):
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)),
                                         str(tmp_path), max_to_keep=3, checkpoint_name="model")
    manager.save(checkpoint_number=5)
    latest = manager.save(checkpoint_number=9)
    assert decoder_lib.checkpoint_prefix(str(tmp_path)) == latest
    assert decoder_lib.checkpoint_prefix(str(tmp_path), run_dir=True) == latest
    assert decoder_lib.checkpoint_prefix(latest) == latest


def test_trained_hparams_are_the_stored_ones_with_overrides(tmp_path):
    stored = create_hparams("transformer_tiny").replace(hidden_size=24)
    (tmp_path / "hparams.json").write_text(stored.to_json())
    hp = decoder_lib.trained_hparams(str(tmp_path), "transformer_base", "num_heads=2")
    assert (hp.hidden_size, hp.num_heads) == (24, 2)            # not transformer_base's
    fresh = decoder_lib.trained_hparams(str(tmp_path / "elsewhere"), "transformer_tiny", "")
    assert fresh.to_json() == create_hparams("transformer_tiny").to_json()
    with pytest.raises(UserError, match="--hparams_set"):
        decoder_lib.trained_hparams(str(tmp_path / "elsewhere"), None)


def test_trained_hparams_gain_the_keys_added_to_the_set_since_the_run_was_trained(tmp_path):
    current = json.loads(create_hparams("transformer_tiny").replace(hidden_size=24).to_json())
    del current["use_pad_remover"]                        # a run from before the key existed
    (tmp_path / "hparams.json").write_text(json.dumps(current))
    (tmp_path / "run.json").write_text(json.dumps({"hparams_set": "transformer_tiny"}))
    for hparams_set in ("transformer_tiny", None):        # named, or from run.json
        hp = decoder_lib.trained_hparams(str(tmp_path), hparams_set)
        assert (hp.hidden_size, hp.use_pad_remover) == (24, True)
    (tmp_path / "run.json").unlink()
    assert "use_pad_remover" not in decoder_lib.trained_hparams(str(tmp_path), None)


# -- a dataset split's examples ----------------------------------------------------------------
EXAMPLES = [{"inputs": np.array([2, 3, 1, 0]), "targets": np.array([4, 1, 0])},
            {"inputs": np.array([5, 1]), "targets": np.array([3, 2, 5, 1])},
            {"inputs": np.array([4, 4, 4, 1]), "targets": np.array([2, 1])}]


def test_encode_examples_cuts_at_eos_and_ends_inputs_with_one_eos():
    encoded, references = _decoder().encode_examples(iter(EXAMPLES))
    assert encoded == [[2, 3, 1], [5, 1], [4, 4, 4, 1]]
    assert references == ["c", "b a d", "a"]
    assert _decoder(num_samples=2).encode_examples(EXAMPLES) == (encoded[:2], references[:2])


def test_decode_examples_writes_every_beam_and_scores_the_best(tmp_path):
    dst = tmp_path / "sub" / "out.txt"
    hyps, refs = _decoder(beam_size=2, return_beams=True).decode_examples(EXAMPLES, str(dst))
    assert hyps == ["a b", "d", "c c c"] and refs == ["c", "b a d", "a"]
    assert dst.read_text() == "a b\ta b\nd\td\nc c c\tc c c\n"
    assert os.listdir(dst.parent) == ["out.txt"]


class _PromptEchoModel:
    """A language model stand-in: 'continues' each prompt (targets) with nothing."""
    has_inputs = False

    def infer(self, features, **kwargs):
        return _EchoModel().infer({"inputs": features["targets"]}, kwargs["beam_size"],
                                  kwargs["alpha"], kwargs["extra_length"], True)


def test_examples_without_inputs_are_prompted_with_the_first_half_of_their_targets():
    hp = decoder_lib.decode_hparams().replace(batch_size=2, beam_size=1)
    decoder = decoder_lib.Decoder(_PromptEchoModel(), None, _WordEncoder(), hp)
    examples = [{"targets": np.array([2, 3, 4, 5, 1, 0])}, {"targets": np.array([3, 1])}]
    assert decoder.encode_examples(examples) == ([[2, 3], []], ["a b c d", "b"])
    assert decoder.decode_examples(examples) == (["a b", ""], ["a b c d", "b"])


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

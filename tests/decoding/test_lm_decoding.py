"""Language-model decoding (a problem without inputs): each prompt is forced, then continued.

A tiny decoder-only Transformer learns runs of RUN consecutive letters ("klmnopqr"). After
a few dozen steps a prompt's continuation is determined (the rest of its run, then EOS),
so greedy and beam search must both give it, and a batch of prompts of different lengths
must give what each prompt gives by itself.
"""
import functools
import io

import numpy as np
import pytest
import tensorflow as tf

import t2tlike.models  # noqa: F401  (registers the models and hparams sets)
import helpers
from data_generators import text_encoder
from t2tlike.decoding import decoder as decoder_lib
from t2tlike.decoding.ids import cut_at_eos
from t2tlike.hparams import create_hparams
from t2tlike.t2t_model import T2TModel
from t2tlike.tracing import Function
from t2tlike.training.trainer import Trainer

RUN, LETTERS = helpers.RUN, helpers.LETTERS
# Prompts are starts of runs (a run starts at 'a'..'s'), of lengths 1..RUN.
PROMPTS = ["klm", "a", "stuvw", "cdefghij", "pq", "bcdefg"]


def tiny_lm_hparams():
    """float32 (pinned: the cached and re-running paths are compared to 1e-4)."""
    return create_hparams("transformer_tiny").replace(
        mixed_precision="none", num_hidden_layers=1, hidden_size=64, filter_size=128, num_heads=4, batch_size=512,
        label_smoothing=0.0, layer_prepostprocess_dropout=0.0, attention_dropout=0.0,
        relu_dropout=0.0, learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
        learning_rate_warmup_steps=20, learning_rate_constant=0.05).freeze()


def run_of(prompt, extra_length=100):
    """What the model should output for `prompt`: its run, cut at prompt + extra_length."""
    start = LETTERS.index(prompt[0])
    return LETTERS[start:start + RUN][:len(prompt) + extra_length]


def is_run(text):
    return len(text) == RUN and text in LETTERS


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The decoder-only Transformer after 60 steps on LetterRuns."""
    data_dir = tmp_path_factory.mktemp("letter_runs_data")
    problem = helpers.LetterRuns()
    problem.generate_data(str(data_dir), None)
    trainer = Trainer(problem, "transformer", tiny_lm_hparams(), str(data_dir),
                      str(tmp_path_factory.mktemp("letter_runs_train")), train_steps=60,
                      eval_steps=0, local_eval_frequency=60, random_seed=1)
    assert not trainer.model.has_inputs and trainer.model.encoder is None
    trainer.train()
    return trainer.model


def lm_decoder(model, overrides=""):
    """A Decoder without an inputs encoder (the problem has none)."""
    hp = decoder_lib.decode_hparams("batch_size=16" + ("," + overrides if overrides else ""))
    return decoder_lib.Decoder(model, None, text_encoder.ByteTextEncoder(), hp)


@pytest.fixture(scope="module")
def decoders(model):
    """overrides -> lm_decoder(model, overrides), made once (each traces its search)."""
    cache = {}

    def get(overrides):
        if overrides not in cache:
            cache[overrides] = lm_decoder(model, overrides)
        return cache[overrides]
    return get


def infer(model, prompts, infer_fn=None, **kwargs):
    """model.infer on byte-encoded prompts, right-padded -> (outputs, scores) as numpy.
    infer_fn: called on the prompts' ids instead (a traced model.infer, say)."""
    ids = [[b + 2 for b in p.encode()] for p in prompts]
    width = max(len(x) for x in ids)
    targets = tf.constant([x + [0] * (width - len(x)) for x in ids], tf.int32,
                          shape=[len(ids), width])
    out = infer_fn(targets) if infer_fn else model.infer({"targets": targets}, **kwargs)
    return out["outputs"].numpy(), out["scores"].numpy()


def text(ids):
    return text_encoder.ByteTextEncoder().decode(cut_at_eos(ids))


# -- what the continuations are ---------------------------------------------------------------
@pytest.mark.parametrize("beam_size", [1, 2])
def test_prompts_are_continued_and_included_in_the_output(decoders, beam_size):
    decoder = decoders(f"beam_size={beam_size}")
    assert not decoder.has_inputs
    assert decoder.decode_lines(PROMPTS) == [run_of(p) for p in PROMPTS]
    # extra_length bounds the continuation: prompt length + extra_length ids at most.
    # (Beam search prefers any hypothesis that ended, however unlikely, to a cut one, as
    # T2T's: its output is then not the run.)
    short = decoders(f"beam_size={beam_size},extra_length=2")
    for prompt, got in zip(PROMPTS, short.decode_lines(PROMPTS)):
        assert got.startswith(prompt) and len(got) <= len(prompt) + 2
        if beam_size == 1:
            assert got == run_of(prompt, 2)


@pytest.mark.parametrize("beam_size", [1, 2])
def test_an_empty_prompt_starts_from_nothing(decoders, beam_size):
    decoder = decoders(f"beam_size={beam_size}")
    alone = decoder.decode_lines([""])[0]
    assert is_run(alone), alone
    assert decoder.decode_lines(["", "klm", ""]) == [alone, "klmnopqr", alone]
    assert decoder.decode_lines(["", ""]) == [alone, alone]      # a batch of [n, 0] prompts


# -- batching ---------------------------------------------------------------------------------
@pytest.mark.parametrize("beam_size, extra_length", [(1, 100), (2, 100), (1, 3), (2, 3)])
def test_a_batch_of_prompts_decodes_as_each_prompt_alone(model, beam_size, extra_length):
    """Right-padded prompts of different lengths: every row gives its own-alone ids and
    score, its padding never enters a continuation, and with a short extra_length each
    row stops at its own prompt length + extra_length (not the longest row's). The batch
    is decoded eagerly, each prompt alone by model.infer traced once (as the Decoder's)."""
    prompts = PROMPTS + [""]
    kwargs = dict(beam_size=beam_size, extra_length=extra_length, return_beams=True)
    outputs, scores = infer(model, prompts, **kwargs)
    traced = Function(lambda targets: model.infer({"targets": targets}, **kwargs),
                      input_signature=[tf.TensorSpec([None, None], tf.int32)])
    for row, prompt in enumerate(prompts):
        one_out, one_scores = infer(model, [prompt], infer_fn=traced)
        width = one_out.shape[-1]
        assert width == len(prompt) + extra_length
        np.testing.assert_array_equal(outputs[row, :, :width], one_out[0])
        assert not outputs[row, :, width:].any()
        np.testing.assert_allclose(scores[row], one_scores[0], rtol=1e-4, atol=1e-5)
        best = outputs[row, 0].tolist()
        ended = best.index(1) if 1 in best else width
        assert 0 not in best[:ended], best                       # no padding inside
        assert text(best).startswith(prompt)
        if beam_size == 1 and prompt:           # beam may prefer an early EOS to a cut run
            assert text(best) == run_of(prompt, extra_length)


def test_decode_from_file_batches_prompts_and_keeps_line_order(model, tmp_path):
    src, dst = tmp_path / "prompts.txt", tmp_path / "out.txt"
    src.write_text("\n".join(PROMPTS) + "\n")
    outputs = lm_decoder(model, "beam_size=2,batch_size=4").decode_from_file(str(src), str(dst))
    assert outputs == [run_of(p) for p in PROMPTS]
    assert dst.read_text() == "".join(run_of(p) + "\n" for p in PROMPTS)


# -- the cached fast path ---------------------------------------------------------------------
def test_cached_decoding_matches_re_running_the_whole_prefix(model, monkeypatch):
    """The Transformer's incremental cache takes the forced prompt like decoded ids: the
    generic step function (the whole model re-run on the prefix at every step) agrees."""
    prompts = ["klm", "", "bcdefg"]
    cached = infer(model, prompts, beam_size=2, extra_length=4, return_beams=True)
    monkeypatch.setattr(model, "decoding_step_fn",
                        functools.partial(T2TModel.decoding_step_fn, model))
    full = infer(model, prompts, beam_size=2, extra_length=4, return_beams=True)
    np.testing.assert_array_equal(cached[0], full[0])
    np.testing.assert_allclose(cached[1], full[1], rtol=1e-4, atol=1e-5)


# -- prompts from the other entry points ------------------------------------------------------
def test_interactive_decodes_empty_lines_too(decoders):
    out = io.StringIO()
    decoders("beam_size=1").decode_interactive(io.StringIO("pq\n\n"), out)
    lines = out.getvalue().split("\n")
    assert "Type a prompt" in lines[0]
    assert lines[1] == "> pqrstuvw" and lines[2].startswith("> ") and is_run(lines[2][2:])


def test_max_input_size_keeps_the_end_of_a_prompt(model):
    decoder = lm_decoder(model, "beam_size=1,max_input_size=2")
    assert decoder.encode("abcde") == [ord("d") + 2, ord("e") + 2]      # no EOS on a prompt
    assert decoder.decode_lines(["abcde"]) == ["defghijk"]


def test_prompt_from_target_is_its_first_half():
    assert decoder_lib.prompt_from_target([5, 6, 7, 8, 9]) == [5, 6]
    assert decoder_lib.prompt_from_target([5]) == []

"""t2t-decoder on a language-model problem (no inputs): datagen -> trainer -> decoder, where
each line of --decode_from_file is a prompt and the output is the prompt + its continuation;
and --decode_split prompts with the first half of each target."""
import pytest

import helpers
from t2tlike import registry

PROBLEM = "lm_decode_test_letter_runs"
RUN, LETTERS = helpers.RUN, helpers.LETTERS
HPARAMS = helpers.hparams_flag(helpers.TINY_LM)


class LetterRuns(helpers.LetterRuns):
    """helpers.LetterRuns with a 20-run dev split (what --decode_split prompts with)."""
    dev_size = 20


@pytest.fixture(scope="module", autouse=True)
def registered():
    registry.register_problem(PROBLEM)(LetterRuns)
    yield
    registry.problems.unregister(PROBLEM)


@pytest.mark.slow
def test_decoder_continues_prompts_from_a_file_and_a_split(run_cli, tmp_path):
    data_dir, out_dir = tmp_path / "data", tmp_path / "train"
    common = [f"--problem={PROBLEM}", f"--data_dir={data_dir}"]
    code, _, err = run_cli("t2t-datagen", *common, f"--tmp_dir={tmp_path / 'tmp'}")
    assert code == 0, err
    code, _, err = run_cli("t2t-trainer", *common, "--model=transformer",
                           "--hparams_set=transformer_tiny", f"--hparams={HPARAMS}",
                           f"--output_dir={out_dir}", "--train_steps=60", "--eval_steps=0",
                           "--local_eval_frequency=60", "--random_seed=1")
    assert code == 0, err
    decode = [*common, "--model=transformer", f"--output_dir={out_dir}"]

    # Prompts of different lengths, one empty: the output is the prompt and the rest of
    # its run of letters (as T2T, the prompt is part of the output), in input order.
    prompts = ["klm", "", "a", "cdefghij", "stuvw"]
    src, dst = tmp_path / "prompts.txt", tmp_path / "out.txt"
    src.write_text("\n".join(prompts) + "\n")
    for decode_hparams in ("beam_size=1,batch_size=2", "beam_size=2,batch_size=8"):
        code, _, err = run_cli("t2t-decoder", *decode, f"--decode_hparams={decode_hparams}",
                               f"--decode_from_file={src}", f"--decode_to_file={dst}")
        assert code == 0, err
        lines = dst.read_text().split("\n")
        assert lines[-1] == "" and len(lines) == len(prompts) + 1
        assert lines[0] == "klmnopqr" and lines[2] == "abcdefgh"
        assert lines[3] == "cdefghij" and lines[4] == "stuvwxyz"
        assert len(lines[1]) == RUN and lines[1] in LETTERS      # from nothing: some run

    # A split: each target's first half is the prompt; the output is scored against it all.
    code, out, err = run_cli("t2t-decoder", *decode, "--decode_split=dev",
                             "--decode_hparams=beam_size=1")
    assert code == 0, err
    assert "exact match: 1.0000 (20/20)" in out and "BLEU = " in out

"""t2t-bleu: the score printed is sacreBLEU's for the same text; bad files end in one clear
message and exit status 2."""
import pytest
import sacrebleu

HYPS = ["The cat sat on the mat.", "A quick brown fox jumps.", "Hello, World!"]
REFS = ["The cat sat on a mat.", "The quick brown fox jumps.", "hello, world!"]


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("variant", ["cased", "uncased"])
def test_prints_sacrebleus_score_and_signature(run_cli, tmp_path, variant):
    hyp, ref = _write(tmp_path / "hyp.txt", HYPS), _write(tmp_path / "ref.txt", REFS)
    code, out, err = run_cli("t2t-bleu", f"--translation={hyp}", f"--reference={ref}",
                             f"--bleu_variant={variant}")
    assert code == 0, err
    metric = sacrebleu.BLEU(tokenize="13a", lowercase=variant == "uncased")
    score = metric.corpus_score(HYPS, [REFS])
    assert 0.0 < score.score < 100.0
    assert out == (f"BLEU = {score.score:.2f}\n"
                   f"{score.format(signature=str(metric.get_signature()))}\n")


def test_identical_files_score_100(run_cli, tmp_path):
    ref = _write(tmp_path / "ref.txt", REFS)
    code, out, err = run_cli("t2t-bleu", f"--translation={ref}", f"--reference={ref}")
    assert code == 0, err
    assert out.startswith("BLEU = 100.00\n")


def _assert_one_line_error(result, *fragments):
    code, out, err = result
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and out == ""
    message = [line for line in err.splitlines() if line.startswith("t2t-bleu: error:")]
    assert len(message) == 1, err
    for fragment in fragments:
        assert fragment in message[0], err


def test_missing_files(run_cli, tmp_path):
    ref = _write(tmp_path / "ref.txt", REFS)
    _assert_one_line_error(
        run_cli("t2t-bleu", f"--translation={tmp_path / 'nope.txt'}", f"--reference={ref}"),
        "--translation", "nope.txt", "does not exist")
    _assert_one_line_error(
        run_cli("t2t-bleu", f"--translation={ref}", f"--reference={tmp_path}"),
        "--reference", "does not exist or is not a file")
    _assert_one_line_error(run_cli("t2t-bleu", f"--translation={ref}"), "--reference")


def test_empty_files(run_cli, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    ref = _write(tmp_path / "ref.txt", REFS)
    _assert_one_line_error(
        run_cli("t2t-bleu", f"--translation={empty}", f"--reference={empty}"), "empty")
    _assert_one_line_error(
        run_cli("t2t-bleu", f"--translation={empty}", f"--reference={ref}"),
        "--translation has 0 lines but --reference has 3")


def test_non_utf8_file(run_cli, tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    ref = _write(tmp_path / "ref.txt", ["cafe"])
    _assert_one_line_error(run_cli("t2t-bleu", f"--translation={latin}", f"--reference={ref}"),
                           "--translation", "not valid UTF-8")

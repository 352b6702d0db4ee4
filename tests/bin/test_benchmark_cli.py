"""t2t-benchmark end to end on a tiny generated problem: the table and the JSON keys."""
import json

import pytest

import helpers

REQUIRED = ("train_target_tokens_per_sec", "step_seconds", "gflops_per_sec", "percent_of_peak",
            "padding_fraction", "decode_sentences_per_sec", "peak_rss_mb")


def test_benchmark_prints_a_table_and_writes_json(run_cli, tmp_path):
    data = tmp_path / "data"
    # Small splits under the registered problem's file names, so the CLI reads them.
    helpers.generate_tiny_data(data, helpers.tiny_problem(name="AlgorithmicReverseBinary40"))
    out = tmp_path / "bench" / "b.json"
    code, stdout, err = run_cli(
        "t2t-benchmark", "--problem=algorithmic_reverse_binary40", "--model=transformer",
        "--hparams_set=transformer_tiny",
        "--hparams=hidden_size=16,filter_size=32,batch_size=256", f"--data_dir={data}",
        "--seconds=1", "--warmup_steps=1", "--decode_sentences=4", "--decode_batch_size=2",
        "--peak_gflops=100", f"--json_out={out}")
    assert code == 0, err
    assert "train target tokens/s" in stdout and "percent of peak" in stdout
    figures = json.loads(out.read_text())
    for key in REQUIRED:
        assert figures[key] > 0 or key == "padding_fraction", key
    assert figures["percent_of_peak"] == pytest.approx(figures["gflops_per_sec"])   # peak 100
    assert figures["setup"]["problem"] == "algorithmic_reverse_binary40"


def test_benchmark_without_data_is_one_clear_error(run_cli, tmp_path):
    code, _, err = run_cli("t2t-benchmark", "--problem=algorithmic_reverse_binary40",
                           "--model=transformer", "--hparams_set=transformer_tiny",
                           f"--data_dir={tmp_path}", "--seconds=1")
    assert code == 2
    assert "t2t-datagen" in err or "no data" in err.lower() or "train" in err
    assert "Traceback" not in err


def test_unwritable_json_out_is_one_clear_error(run_cli, tmp_path):
    data = tmp_path / "data"
    helpers.generate_tiny_data(data, helpers.tiny_problem(name="AlgorithmicReverseBinary40"))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, stdout, err = run_cli(
        "t2t-benchmark", "--problem=algorithmic_reverse_binary40", "--model=transformer",
        "--hparams_set=transformer_tiny",
        "--hparams=hidden_size=16,filter_size=32,batch_size=256", f"--data_dir={data}",
        "--seconds=1", "--warmup_steps=1", "--decode_sentences=0", "--peak_gflops=100",
        f"--json_out={blocker}/b.json")
    assert code == 2
    assert "--json_out" in err and "Traceback" not in err
    assert "train target tokens/s" in stdout      # the figures were still printed

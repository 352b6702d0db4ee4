"""t2t-benchmark end to end on a tiny generated problem: the table and the JSON keys."""
import json
import math

import pytest

import helpers

REQUIRED = ("train_target_tokens_per_sec", "step_seconds", "startup_seconds", "gflops_per_sec",
            "percent_of_peak", "padding_fraction", "decode_sentences_per_sec", "peak_rss_mb")
# One layer, 16 wide: the benchmark's figures, not the model, are under test.
HPARAMS = "--hparams=num_hidden_layers=1,hidden_size=16,filter_size=32,batch_size=256"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small splits under the registered problem's file names, so the CLI reads them."""
    data = tmp_path_factory.mktemp("bench_data")
    helpers.generate_tiny_data(data, helpers.tiny_problem(name="AlgorithmicReverseBinary40"))
    return data


@pytest.mark.slow
def test_benchmark_prints_a_table_and_writes_json(run_cli, data, tmp_path):
    out = tmp_path / "bench" / "b.json"
    code, stdout, err = run_cli(
        "t2t-benchmark", "--problem=algorithmic_reverse_binary40", "--model=transformer",
        "--hparams_set=transformer_tiny", HPARAMS, f"--data_dir={data}", "--seconds=1",
        "--warmup_steps=1", "--decode_sentences=2", "--decode_batch_size=2",
        "--peak_gflops=100", f"--json_out={out}")
    assert code == 0, err
    assert "train target tokens/s" in stdout and "percent of peak" in stdout
    assert "start-up: build + first step (s)" in stdout
    figures = json.loads(out.read_text())
    for key in REQUIRED:
        assert math.isfinite(figures[key]), (key, figures[key])
        assert figures[key] > 0 or key == "padding_fraction", (key, figures[key])
    assert 0.0 <= figures["padding_fraction"] < 1.0
    assert figures["percent_of_peak"] == pytest.approx(figures["gflops_per_sec"])   # peak 100
    assert figures["setup"]["problem"] == "algorithmic_reverse_binary40"
    assert figures["setup"]["compute_dtype"] == "float32"   # the peak's dtype (auto on AVX2)
    assert "matmuls in float32:" in stdout


def test_benchmark_without_data_is_one_clear_error(run_cli, tmp_path):
    code, _, err = run_cli("t2t-benchmark", "--problem=algorithmic_reverse_binary40",
                           "--model=transformer", "--hparams_set=transformer_tiny",
                           f"--data_dir={tmp_path}", "--seconds=1")
    assert code == 2
    assert "no data for problem 'algorithmic_reverse_binary40'" in err
    assert "t2t-datagen --problem=algorithmic_reverse_binary40" in err
    assert "Traceback" not in err


def test_unwritable_json_out_is_one_clear_error(run_cli, data, tmp_path, monkeypatch):
    # What is under test is the error after the figures are printed: they are stubbed here
    # (the measurement itself: the first test here and tests/training/test_benchmark.py).
    from t2tlike.training import benchmark
    monkeypatch.setattr(benchmark, "benchmark_training", lambda *args, **kwargs: dict(
        train_target_tokens_per_sec=1234.0, step_seconds=0.5, gflops_per_sec=2.0))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, stdout, err = run_cli(
        "t2t-benchmark", "--problem=algorithmic_reverse_binary40", "--model=transformer",
        "--hparams_set=transformer_tiny", HPARAMS, f"--data_dir={data}", "--seconds=1",
        "--warmup_steps=1", "--decode_sentences=0", "--peak_gflops=100",
        f"--json_out={blocker}/b.json")
    assert code == 2
    assert "--json_out" in err and "Traceback" not in err
    # the figures were still printed
    assert "train target tokens/s" in stdout and " 1,234\n" in stdout
    assert blocker.read_text() == ""

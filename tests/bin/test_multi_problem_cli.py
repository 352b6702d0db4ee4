"""A '+'-composed multi-problem through the CLIs: datagen -> trainer (evaluated task by
task, adaptive schedule) -> decoder and exporter per task (--task). The tools run in this
process; the two small problems are registered for the module."""
import json

import pytest

import helpers
from cli_helpers import run_in_process
from data_generators import algorithmic
from t2tlike import registry

pytestmark = pytest.mark.slow

SMALL = dict(train_size=300, dev_size=20, test_size=20, num_shards=2, train_length=6,
             dev_length=6)
PROBLEMS = {"mini_reverse": helpers.tiny_problem_class(algorithmic.AlgorithmicReverseBinary40,
                                                       name="MiniReverse", **SMALL),
            "mini_copy": helpers.tiny_problem_class(algorithmic.AlgorithmicIdentityBinary40,
                                                    name="MiniCopy", **SMALL)}
PROBLEM = "mini_reverse+mini_copy"
HPARAMS = helpers.hparams_flag({**helpers.TINY_TRANSFORMER, "hidden_size": 32,
                                "filter_size": 64, "multiproblem_schedule": "adaptive"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(common flags, data_dir, output_dir, the trainer's log) after datagen and 20 steps."""
    for name, cls in PROBLEMS.items():
        registry.register_problem(name)(cls)
    root = tmp_path_factory.mktemp("multi_cli")
    data, out = root / "data", root / "train"
    common = [f"--problem={PROBLEM}", f"--data_dir={data}"]
    code, _, err = run_in_process("t2t-datagen", *common, f"--tmp_dir={root / 'tmp'}")
    assert code == 0, err
    code, _, err = run_in_process(
        "t2t-trainer", *common, "--model=transformer", "--hparams_set=transformer_tiny",
        f"--hparams={HPARAMS},multiproblem_adaptive_baselines=[0.9,0.9]",
        f"--output_dir={out}", "--train_steps=20", "--local_eval_frequency=10",
        "--eval_steps=2", "--random_seed=1")
    assert code == 0, err
    yield common + ["--model=transformer"], data, out, err
    for name in PROBLEMS:
        registry.problems.unregister(name)


def test_trainer_evaluates_each_task_and_logs_the_schedule(trained):
    _, data, _, log = trained
    assert "mini_reverse/accuracy_per_sequence" in log and "mini_copy/accuracy" in log
    assert log.count("Task scores at step") == 2 and "task probs: mini_reverse" in log
    names = {p.name for p in data.iterdir()}
    assert "mini_reverse__mini_copy_task1_mini_copy-train-00000-of-00002" in names


def test_decoder_and_exporter_pick_the_task_by_name_or_index(trained, tmp_path):
    """t2t-decoder --task decodes a file and a split of that task; t2t-exporter --task's
    export answers what t2t-decoder --task wrote, on the same checkpoint and decode hparams
    (lines with and without their own tag)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the shared vocabulary is SentencePiece)
    common, _, out, _ = trained
    lines = ["1 0 0", "0 1 1 1", "<task:mini_reverse> 1 1 0", "", "1 1 0 1 0 0"]
    src, dst, export_dir = tmp_path / "in.txt", tmp_path / "out.txt", tmp_path / "export"
    src.write_text("\n".join(lines) + "\n")
    flags = [*common, f"--output_dir={out}", "--task=mini_copy", "--decode_hparams=beam_size=2"]
    code, stdout, err = run_in_process(   # (the run's hparams come from its output_dir)
        "t2t-decoder", *flags, f"--decode_from_file={src}", f"--decode_to_file={dst}")
    assert code == 0, err
    decodes = dst.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(decodes) == len(lines)
    code, _, err = run_in_process("t2t-exporter", *flags, f"--export_dir={export_dir}")
    assert code == 0, err
    info = json.loads((export_dir / "assets.extra" / "t2tlike_export.json").read_text())
    assert info["task"] == "mini_copy" and "serving_default" in info["signatures"]
    translate = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    outputs = translate(tf.constant(lines))["outputs"].numpy()
    assert [o.decode("utf-8") for o in outputs] == decodes

    code, stdout, err = run_in_process(
        "t2t-decoder", *common, f"--output_dir={out}", "--task=0", "--decode_split=test",
        "--decode_hparams=beam_size=1")
    assert code == 0, err
    assert "exact match:" in stdout
    assert "/20)" in stdout.split("exact match:")[1]     # task 0's (mini_reverse's) 20


def test_decoder_and_exporter_task_errors_are_one_clear_line(trained):
    common, _, out, _ = trained
    code, _, err = run_in_process("t2t-decoder", *common, f"--output_dir={out}",
                                  "--task=mini_revers", "--decode_split=test")
    assert code == 2 and "Traceback" not in err
    assert "mini_revers" in err and "mini_reverse" in err
    code, _, err = run_in_process("t2t-exporter", *common, f"--output_dir={out}",
                                  "--task=mini_cop")
    assert code == 2 and "mini_copy" in err and "Traceback" not in err
    code, _, err = run_in_process("t2t-exporter", *common, f"--output_dir={out}")
    assert code == 2 and "several tasks (mini_reverse, mini_copy)" in err
    assert "--task=NAME" in err and "Traceback" not in err

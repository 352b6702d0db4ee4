"""A '+'-composed multi-problem through the CLIs: datagen -> trainer (evaluated task by
task, adaptive schedule) -> decoder per task (--task)."""
import textwrap

import pytest

from conftest import run_script

USR = textwrap.dedent('''
    from data_generators import algorithmic
    from t2tlike import registry

    SMALL = dict(train_size=300, dev_size=20, test_size=20, num_shards=2, train_length=6,
                 dev_length=6)

    @registry.register_problem
    class MiniReverse(algorithmic.AlgorithmicReverseBinary40):
        pass

    @registry.register_problem
    class MiniCopy(algorithmic.AlgorithmicIdentityBinary40):
        pass

    for cls in (MiniReverse, MiniCopy):
        for key, value in SMALL.items():
            setattr(cls, key, value)

    @registry.register_hparams
    def transformer_mini():
        from t2tlike.models.transformer import transformer_tiny
        return transformer_tiny().replace(num_hidden_layers=1, hidden_size=32, filter_size=64,
                                          batch_size=256, learning_rate_warmup_steps=10)
''')
PROBLEM = "mini_reverse+mini_copy"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_cli")
    usr = root / "usr"
    usr.mkdir()
    (usr / "__init__.py").write_text(USR)
    data, out = root / "data", root / "train"
    common = [f"--t2t_usr_dir={usr}", f"--problem={PROBLEM}", f"--data_dir={data}"]
    code, _, err = run_script("t2t-datagen", *common, f"--tmp_dir={root / 'tmp'}")
    assert code == 0, err
    code, _, err = run_script(
        "t2t-trainer", *common, "--model=transformer", "--hparams_set=transformer_mini",
        "--hparams=multiproblem_schedule=adaptive,multiproblem_adaptive_baselines=[0.9,0.9]",
        f"--output_dir={out}", "--train_steps=20", "--local_eval_frequency=10",
        "--eval_steps=2", "--random_seed=1")
    assert code == 0, err
    return common, data, out, err


def test_trainer_evaluates_each_task_and_logs_the_schedule(trained):
    _, data, _, log = trained
    assert "mini_reverse/accuracy_per_sequence" in log and "mini_copy/accuracy" in log
    assert log.count("Task scores at step") == 2 and "task probs: mini_reverse" in log
    names = {p.name for p in data.iterdir()}
    assert "mini_reverse__mini_copy_task1_mini_copy-train-00000-of-00002" in names


def test_decoder_picks_the_task_by_flag(trained, tmp_path):
    common, _, out, _ = trained
    src = tmp_path / "in.txt"
    src.write_text("1 0 0\n0 1 1 1\n")
    for task in ("mini_copy", "0"):
        dst = tmp_path / f"out_{task}.txt"
        code, stdout, err = run_script(
            "t2t-decoder", *common, "--model=transformer", "--hparams_set=transformer_mini",
            f"--output_dir={out}", f"--task={task}", "--decode_hparams=beam_size=2",
            f"--decode_from_file={src}", f"--decode_to_file={dst}")
        assert code == 0, err
        assert len(dst.read_text().splitlines()) == 2
    code, stdout, err = run_script(
        "t2t-decoder", *common, "--model=transformer", "--hparams_set=transformer_mini",
        f"--output_dir={out}", "--task=mini_reverse", "--decode_split=test",
        "--decode_hparams=beam_size=1")
    assert code == 0, err
    assert "exact match:" in stdout and "(" in stdout.split("exact match:")[1]


def test_decoder_task_errors_are_one_clear_line(trained):
    common, _, out, _ = trained
    code, _, err = run_script(
        "t2t-decoder", *common, "--model=transformer", "--hparams_set=transformer_mini",
        f"--output_dir={out}", "--task=mini_revers", "--decode_split=test")
    assert code == 2 and "Traceback" not in err
    assert "mini_revers" in err and "mini_reverse" in err

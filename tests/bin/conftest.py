"""Shared helpers for the CLI tests: run a tool in-process or as its console script."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USR_DIR = REPO / "examples" / "t2t_usr_dir"
TOY_PROBLEM = "reverse_words_toy"
TOY_HPARAMS = "transformer_reverse_words_toy"


def _module(tool):
    import importlib
    return importlib.import_module("t2tlike_cli." + tool.replace("-", "_"))


@pytest.fixture
def run_cli(capsys):
    """run_cli("t2t-trainer", "--flag=value", ...) in this process -> (code, out, err)."""
    from absl import flags

    def run(tool, *args):
        module = _module(tool)
        flags.FLAGS.unparse_flags()
        try:
            code = module.cli.run(module.main, [tool, *args]) or 0
        except SystemExit as e:
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def console_script(tool):
    """The installed console script, or `python -m` of its module when not installed."""
    path = shutil.which(tool, path=str(Path(sys.executable).parent) + os.pathsep +
                        os.environ.get("PATH", ""))
    return [path] if path else [sys.executable, "-m", "t2tlike_cli." + tool.replace("-", "_")]


def run_script(tool, *args, timeout=600):
    proc = subprocess.run(console_script(tool) + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    """data_dir with the toy custom problem generated through the real CLI."""
    data_dir = tmp_path_factory.mktemp("toy_data")
    code, out, err = run_script("t2t-datagen", f"--t2t_usr_dir={USR_DIR}",
                                f"--problem={TOY_PROBLEM}", f"--data_dir={data_dir}",
                                f"--tmp_dir={data_dir / 'tmp'}")
    assert code == 0, err
    return data_dir


@pytest.fixture(scope="session")
def toy_trained(toy_data, tmp_path_factory):
    """(data_dir, output_dir) after a few training steps through the real CLI."""
    out_dir = tmp_path_factory.mktemp("toy_train")
    code, out, err = run_script(
        "t2t-trainer", f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}",
        "--model=transformer", f"--hparams_set={TOY_HPARAMS}", f"--data_dir={toy_data}",
        f"--output_dir={out_dir}", "--train_steps=30", "--local_eval_frequency=15",
        "--eval_steps=2", "--random_seed=1")
    assert code == 0, err
    return toy_data, out_dir

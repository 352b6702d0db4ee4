"""Helpers of the CLI tests (tests/bin/): the toy user directory, running a tool as its
installed console script (a fresh process) or in this process. The `run_cli` fixture
(tests/bin/conftest.py) wraps `run_in_process` for one test.

Import as `import cli_helpers` (pyproject.toml puts tests/ on the path).
"""
import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
USR_DIR = REPO / "examples" / "t2t_usr_dir"
TOY_PROBLEM = "reverse_words_toy"
TOY_HPARAMS = "transformer_reverse_words_toy"


def console_script(tool):
    """The installed console script, or `python -m` of its module when not installed."""
    path = shutil.which(tool, path=str(Path(sys.executable).parent) + os.pathsep +
                        os.environ.get("PATH", ""))
    return [path] if path else [sys.executable, "-m", "t2tlike_cli." + tool.replace("-", "_")]


def run_script(tool, *args, timeout=600):
    """Runs `tool` as its console script (a new process, TensorFlow started afresh, ~10 s)
    -> (exit code, stdout, stderr)."""
    proc = subprocess.run(console_script(tool) + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


def run_in_process(tool, *args):
    """Runs `tool` (e.g. "t2t-trainer") with `args` in this process -> (exit code, stdout,
    stderr); its log lines are on stderr, as from the console script."""
    import importlib

    from absl import flags, logging
    module = importlib.import_module("t2tlike_cli." + tool.replace("-", "_"))
    flags.FLAGS.unparse_flags()
    out, err = io.StringIO(), io.StringIO()
    log = logging.get_absl_handler().python_handler   # writes where stderr was at start-up
    log_stream, log.stream = log.stream, err
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = module.cli.run(module.main, [tool, *args]) or 0
    except SystemExit as e:
        code = e.code
    finally:
        log.stream = log_stream
    return code, out.getvalue(), err.getvalue()

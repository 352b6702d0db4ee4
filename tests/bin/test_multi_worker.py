"""Multi-worker training from the command line: `t2t-trainer --local_workers=2`, real
worker processes on 127.0.0.1 (one CPU thread each). Bad clusters:
tests/bin/test_bad_input.py; the update, resuming and a lost worker:
tests/training/test_multi_worker_steps.py."""
import os
import re
import signal
import subprocess
import time

import pytest

from cli_helpers import TOY_HPARAMS, TOY_PROBLEM, USR_DIR, console_script


def _args(data_dir, out, *extra):
    return [f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}", "--model=transformer",
            f"--hparams_set={TOY_HPARAMS}", f"--data_dir={data_dir}", f"--output_dir={out}",
            "--random_seed=1", "--eval_steps=2", *extra]


def _wait_for(path, pattern, timeout=240):
    """The first match of `pattern` in the growing log file `path`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"), re.M)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} within {timeout} s in:\n"
                         + path.read_text(errors="replace")[-3000:])


@pytest.mark.slow
def test_two_local_workers_train_as_one_job_and_stop_together(toy_data, tmp_path):
    """Both workers state the job's batch and evaluate alike; a SIGTERM to one of them
    stops both after the same step, which the chief saves; only the chief writes
    output_dir (one run's files, one events file per folder)."""
    out, log = tmp_path / "run", tmp_path / "launcher.log"
    with open(log, "w") as f:
        launcher = subprocess.Popen(
            console_script("t2t-trainer") + ["--local_workers=2"] + _args(
                toy_data, out, "--train_steps=1000", "--local_eval_frequency=5",
                "--log_step_count_steps=5"),
            stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    second = int(_wait_for(log, r"worker 1: pid (\d+)")[1])
    _wait_for(log, r"^\[worker 1\] .*step 10/1000")
    os.kill(second, signal.SIGTERM)
    assert launcher.wait(timeout=120) == 128 + signal.SIGTERM
    text = log.read_text()
    assert "t2t-trainer: the workers stopped on SIGTERM; run the same command again" in text
    for worker in (0, 1):
        assert re.search(rf"^\[worker {worker}\] .*2 replica\(s\) "
                         r"\(CollectiveAllReduceStrategy\); batch_size 512 per replica = 1024 "
                         "per update", text, re.M)
    evals = [re.findall(rf"^\[worker {w}\] \S+ eval at step 5: (.*)", text, re.M) for w in (0, 1)]
    assert len(evals[0]) == 1 and evals[0] == evals[1], text[-3000:]
    stops = [re.findall(rf"^\[worker {w}\] .*stopped by SIGTERM at step (\d+); the checkpoint",
                        text, re.M) for w in (0, 1)]
    assert len(stops[0]) == 1 and stops[0] == stops[1], text[-3000:]
    saved = {*range(5, int(stops[0][0]) + 1, 5), int(stops[0][0])}   # evaluations, the stop
    files = sorted(p.name for p in out.iterdir())
    assert [f for f in files if not f.startswith(("events.", ".t2t.lock"))] == sorted(
        ["checkpoint", "eval", "hparams.json", "operative_config.gin", "run.json"]
        + [f"model-{n}.{part}" for n in saved for part in ("data-00000-of-00001", "index")])
    events = [f for f in files if f.startswith("events.")]
    assert len(events) == 1 and len(os.listdir(out / "eval")) == 1   # the chief's summaries

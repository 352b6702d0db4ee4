"""Multi-worker training from the command line, with real worker processes on 127.0.0.1
(one CPU thread each): `t2t-trainer --local_workers=2`, and workers started with TF_CONFIG
as on a cluster. Bad clusters: tests/bin/test_bad_input.py; the update itself:
tests/training/test_multi_worker_steps.py."""
import os
import re
import signal
import subprocess
import time

import pytest
import tensorflow as tf

from cli_helpers import TOY_HPARAMS, TOY_PROBLEM, USR_DIR, console_script, run_script
from t2tlike.training import local_workers


def _args(data_dir, out, *extra):
    return [f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}", "--model=transformer",
            f"--hparams_set={TOY_HPARAMS}", f"--data_dir={data_dir}", f"--output_dir={out}",
            "--random_seed=1", "--eval_steps=2", *extra]


def _wait_for(paths, pattern, timeout=240):
    """Waits until every log file in `paths` has a line matching `pattern`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(re.search(pattern, path.read_text(errors="replace"), re.M) for path in paths):
            return
        time.sleep(0.2)
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s in "
                         + "\n".join(p.read_text(errors="replace")[-2000:] for p in paths))


@pytest.mark.slow
def test_two_workers_train_lose_one_resume_and_stop_together(toy_data, tmp_path):
    """Two local workers train and evaluate as one job that only the chief writes. Started
    again (as on a cluster), both resume from the chief's checkpoint; SIGTERM to one of them
    stops both after the same step, saved. Started again, killing one worker stops the
    other within seconds, naming the lost worker."""
    out = tmp_path / "run"
    code, _, err = run_script("t2t-trainer", "--local_workers=2", *_args(
        toy_data, out, "--train_steps=20", "--local_eval_frequency=10"))
    assert code == 0, err[-3000:]
    for worker in (0, 1):
        assert re.search(rf"^\[worker {worker}\] .*2 replica\(s\) \(CollectiveAllReduceStrategy\)"
                         r"; batch_size 512 per replica = 1024 per update", err, re.M)
    evals = [re.findall(rf"^\[worker {w}\] \S+ eval at step (\d+): .*loss = ([\d.]+)", err, re.M)
             for w in (0, 1)]
    assert evals[0] == evals[1] and [step for step, _ in evals[0]] == ["10", "20"], err[-3000:]
    assert float(evals[0][1][1]) < float(evals[0][0][1])   # the dev loss falls
    files = sorted(p.name for p in out.iterdir())
    assert [f for f in files if not f.startswith(("events.", ".t2t.lock"))] == [
        "checkpoint", "eval", "hparams.json", "model-10.data-00000-of-00001", "model-10.index",
        "model-20.data-00000-of-00001", "model-20.index", "operative_config.gin", "run.json"]
    events = [f for f in files if f.startswith("events.")]
    assert len(events) == 1 and len(os.listdir(out / "eval")) == 1   # the chief's summaries

    workers, logs = _start_workers(toy_data, out, tmp_path / "resume")
    _wait_for(logs, rf"Resumed from {re.escape(str(out))}/model-20 at step 20\.")
    _wait_for(logs, r"step 25/1000")
    workers[1].send_signal(signal.SIGTERM)   # one worker: both stop after the same step
    assert [w.wait(timeout=120) for w in workers] == [128 + signal.SIGTERM] * 2
    stops = [re.findall(r"stopped by SIGTERM at step (\d+); the checkpoint of step \d+ is saved",
                        log.read_text()) for log in logs]
    assert len(stops[0]) == 1 and stops[0] == stops[1], logs[0].read_text()[-3000:]
    stopped = stops[0][0]
    assert tf.train.latest_checkpoint(str(out)).endswith(f"model-{stopped}")

    workers, logs = _start_workers(toy_data, out, tmp_path / "lost")
    _wait_for(logs, rf"Resumed from {re.escape(str(out))}/model-{stopped} at step {stopped}\.")
    _wait_for(logs[:1], rf"step {int(stopped) // 5 * 5 + 10}/1000")
    workers[1].kill()
    killed = time.time()
    assert workers[0].wait(timeout=120) == 1
    assert time.time() - killed < 60
    assert re.search(r"worker 0 of 2 stops at step \d+: lost contact with worker 1 "
                     r"\(/job:worker/replica:0/task:1: ", logs[0].read_text()), \
        logs[0].read_text()[-3000:]
    workers[1].wait()
    assert tf.train.latest_checkpoint(str(out)).endswith(f"model-{stopped}")


def _start_workers(data_dir, out, logs):
    """Two workers of one job, started as on a cluster (TF_CONFIG each), logging to
    `logs`0.log and 1.log -> (processes, log paths)."""
    processes, paths = [], []
    for index, config in enumerate(local_workers.tf_configs(2)):
        paths.append(logs.with_name(f"{logs.name}{index}.log"))
        with open(paths[-1], "w") as f:
            processes.append(subprocess.Popen(
                console_script("t2t-trainer") + _args(
                    data_dir, out, "--train_steps=1000", "--log_step_count_steps=5",
                    "--intra_op_parallelism_threads=1", "--inter_op_parallelism_threads=1",
                    "--collective_timeout_secs=60"),
                env=dict(os.environ, TF_CONFIG=config), stdout=f, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL))
    return processes, paths

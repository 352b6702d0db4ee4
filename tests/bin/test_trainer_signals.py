"""t2t-trainer under real signals, as a scheduler's preemption or Ctrl-C sends them: the
installed console script in a subprocess, on the toy custom problem."""
import signal
import subprocess
import threading

import pytest
import tensorflow as tf

from cli_helpers import TOY_HPARAMS, TOY_PROBLEM, USR_DIR, console_script


def _args(data_dir, out_dir, train_steps):
    return [f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}", "--model=transformer",
            f"--hparams_set={TOY_HPARAMS}", f"--data_dir={data_dir}", f"--output_dir={out_dir}",
            f"--train_steps={train_steps}", "--local_eval_frequency=100000", "--eval_steps=2",
            "--save_checkpoints_secs=0", "--log_step_count_steps=1"]


def _signal_while_training(args, signals, after_line="step 5/"):
    """Starts the trainer, sends `signals` (one after another) once `after_line` is logged
    -> (exit code, stderr)."""
    proc = subprocess.Popen(console_script("t2t-trainer") + args, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if after_line in line:
            for sig in signals:
                proc.send_signal(sig)
            break
    drain = threading.Thread(target=lambda: lines.extend(proc.stderr))
    drain.start()
    code = proc.wait(timeout=300)
    drain.join()
    return code, "".join(lines)


@pytest.mark.slow
def test_sigterm_saves_the_current_step_and_the_rerun_resumes_there(toy_data, tmp_path,
                                                                    run_cli):
    """(SIGINT, Ctrl-C, takes the same path with exit status 130: tests/training)"""
    out_dir = tmp_path / "run"
    code, err = _signal_while_training(_args(toy_data, out_dir, 100_000), [signal.SIGTERM])
    assert code == 143, err[-3000:]
    name = "SIGTERM"
    assert f"Got {name}: stopping after this step" in err
    assert "Traceback" not in err, err[-3000:]
    saved = tf.train.latest_checkpoint(str(out_dir))
    stopped_at = int(saved.rsplit("-", 1)[1])
    assert stopped_at >= 5 and f"stopped by {name} at step {stopped_at}" in err

    code, out, err = run_cli("t2t-trainer", *_args(toy_data, out_dir, stopped_at))
    assert code == 0, err[-3000:]
    assert f"Resumed from {saved} at step {stopped_at}" in err and "nothing to do" in err


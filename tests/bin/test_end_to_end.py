"""datagen -> trainer -> decoder on a custom problem registered from a T2T-style
--t2t_usr_dir: the trainer and a decoder run as the installed console scripts (each a
TensorFlow start-up); datagen and the other runs of a tool run in this process. And
t2t-trainer under real signals, as a scheduler's preemption or Ctrl-C sends them."""
import json
import os
import signal
import subprocess
import threading

import pytest
import tensorflow as tf

from cli_helpers import TOY_HPARAMS, TOY_PROBLEM, USR_DIR, console_script, run_script

TOOLS = ["t2t-datagen", "t2t-trainer", "t2t-decoder", "t2t-bleu", "t2t-avg-all", "t2t-benchmark"]


@pytest.mark.parametrize("tool", TOOLS)
def test_every_console_script_is_installed_and_answers_help(tool):
    code, out, err = run_script(tool, "--help", timeout=60)
    assert code == 0, err
    assert out.startswith(f"{tool}: ") and "--t2t_usr_dir" in out


def test_datagen_writes_t2t_named_shards_and_vocab(toy_data):
    names = sorted(os.listdir(toy_data))
    assert f"{TOY_PROBLEM}-train-00000-of-00009" in names
    assert f"{TOY_PROBLEM}-dev-00000-of-00001" in names
    assert f"vocab.{TOY_PROBLEM}.64.model" in names
    assert not [n for n in names if n.endswith(".incomplete")]


def test_trainer_writes_checkpoints_config_and_summaries(toy_trained):
    _, out_dir = toy_trained
    names = os.listdir(out_dir)
    assert "checkpoint" in names and any(n.startswith("model-30") for n in names)
    hp = json.loads((out_dir / "hparams.json").read_text())
    assert hp["hidden_size"] == 32 and hp["toy_note"] == "added by a user hparams function"
    assert (out_dir / "operative_config.gin").exists()
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(out_dir / "eval"))


@pytest.mark.slow
def test_decoder_script_from_file_with_thread_flags_keeps_line_order(toy_trained, tmp_path):
    """Greedy through the console script, whose thread flags apply before TensorFlow starts
    (beam search from a file, in this process: the test below)."""
    data_dir, out_dir = toy_trained
    lines = ["red cat runs", "the big dog sleeps over a tree", "sun", "blue bird sings"]
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("\n".join(lines) + "\n")
    code, out, err = run_script(
        "t2t-decoder", f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}",
        "--model=transformer", f"--hparams_set={TOY_HPARAMS}", f"--data_dir={data_dir}",
        f"--output_dir={out_dir}", "--decode_hparams=beam_size=1,batch_size=3",
        f"--decode_from_file={src}", f"--decode_to_file={dst}", f"--decode_reference={src}",
        "--intra_op_parallelism_threads=1", "--inter_op_parallelism_threads=2")
    assert code == 0, err
    assert "CPU threads: intra-op 1, inter-op 2." in out + err
    assert len(dst.read_text().split("\n")) == len(lines) + 1
    assert "exact match:" in out and "BLEU =" in out
    assert not (tmp_path / (dst.name + ".tmp")).exists()


def test_a_file_of_several_batches_is_decoded_one_core_per_batch(run_cli, toy_trained, tmp_path,
                                                                   monkeypatch):
    """With the thread flags at 0, t2t-decoder sets one thread per op and a batch per core
    for a file of more than one batch, and leaves TensorFlow's threads for one batch (or
    when a flag is given). The beam-search decodes keep the file's line order and are
    scored against --decode_reference (the run's hparams come from its output_dir)."""
    from absl import flags

    from t2tlike import run_config
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike_cli import cli, t2t_decoder
    data_dir, out_dir = toy_trained
    lines = ["red cat runs", "the big dog sleeps over a tree", "sun", "blue bird sings"]
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("\n".join(lines) + "\n")
    threads = []

    def set_cpu_threads(intra, inter):                 # this process's threads run already
        if intra or inter:
            threads.append((intra, inter))
        return bool(intra or inter)
    monkeypatch.setattr(run_config, "set_cpu_threads", set_cpu_threads)
    monkeypatch.setattr(decoder_lib, "cpu_cores", lambda: 2)
    code, out, err = run_cli(
        "t2t-decoder", f"--t2t_usr_dir={USR_DIR}", f"--problem={TOY_PROBLEM}",
        "--model=transformer", f"--data_dir={data_dir}", f"--output_dir={out_dir}",
        "--decode_hparams=beam_size=3,alpha=0.6,batch_size=2", f"--decode_from_file={src}",
        f"--decode_to_file={dst}", f"--decode_reference={src}")
    assert code == 0, err
    assert threads == [(1, 2)]
    assert "CPU threads: intra-op 1, inter-op 2 (one core per batch" in err
    assert len(dst.read_text().split("\n")) == len(lines) + 1
    assert "exact match:" in out and "BLEU =" in out
    assert not (tmp_path / (dst.name + ".tmp")).exists()
    # the flags as that run left them: one batch of 4 lines, or 2 samples, keep the threads
    assert t2t_decoder._more_than_one_batch(decoder_lib.decode_hparams("batch_size=2"))
    for decode in ("batch_size=4", "batch_size=2,num_samples=2"):
        assert not t2t_decoder._more_than_one_batch(decoder_lib.decode_hparams(decode))
    flags.FLAGS.inter_op_parallelism_threads = 4          # the flags win
    try:
        cli.threads_unless_given((1, 2), "a test")
    finally:
        flags.FLAGS.inter_op_parallelism_threads = 0
    assert threads == [(1, 2)]


def test_registry_help_lists_builtins_and_user_registrations(run_cli):
    code, out, err = run_cli("t2t-trainer", "--registry_help", f"--t2t_usr_dir={USR_DIR}")
    assert code == 0, err
    for name in ("algorithmic_reverse_binary40", "transformer", "transformer_tiny", "symbol",
                 TOY_PROBLEM, TOY_HPARAMS):
        assert f"  {name}\n" in out


def _signal_args(data_dir, out_dir, train_steps):
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
    """The rerun of the same command resumes from the saved step and, with nothing left
    to train, stops there. (SIGINT, Ctrl-C, takes the same path with exit status 130:
    tests/training)"""
    out_dir = tmp_path / "run"
    code, err = _signal_while_training(_signal_args(toy_data, out_dir, 100_000), [signal.SIGTERM])
    assert code == 143, err[-3000:]
    name = "SIGTERM"
    assert f"Got {name}: stopping after this step" in err
    assert "Traceback" not in err, err[-3000:]
    saved = tf.train.latest_checkpoint(str(out_dir))
    stopped_at = int(saved.rsplit("-", 1)[1])
    assert stopped_at >= 5 and f"stopped by {name} at step {stopped_at}" in err

    code, out, err = run_cli("t2t-trainer", *_signal_args(toy_data, out_dir, stopped_at))
    assert code == 0, err[-3000:]
    assert f"Resumed from {saved} at step {stopped_at}" in err and "nothing to do" in err


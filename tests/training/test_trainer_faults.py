"""The trainer's fault handling on the tiny copy task: a failing eval, Ctrl-C and a
corrupt checkpoint, a resumed run reading on where it stopped; non-finite steps, a
divergence stop and a full disk; signals. (A NaN on one of two replicas:
tests/training/test_distribute.py.) docs/reliability.md lists them."""
import os
import signal

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.checkpoint import functional_saver

import helpers
import t2tlike.models  # noqa: F401
from t2tlike.training import run_control
from t2tlike.training import trainer as trainer_lib
from t2tlike.training.trainer import Trainer


_hparams = helpers.tiny_transformer_hparams


def _recording(trainer, seen):
    """Makes `trainer` note the targets of every batch it trains on in `seen`."""
    real = trainer.train_step

    def train_step(dataset=None, jit_compile=False):
        step = real(dataset, jit_compile)
        return lambda batch: (seen.append(batch["targets"].numpy().tobytes()), step(batch))[1]

    trainer.train_step = train_step
    return trainer


def test_checkpoints_survive_a_failing_eval_and_ctrl_c_and_the_resumed_run_reads_on(
        tiny_data, tmp_path, monkeypatch):
    """One run: checkpoints every 2 steps and at the evaluations (every 3), saved before
    the evaluation, which fails (training goes on); Ctrl-C at step 5 stops it with that
    step's checkpoint. Resuming it with its latest checkpoint truncated is refused with one
    message naming the previous one (a mismatching model: tests/bin/test_bad_input.py);
    resumed from that one, it trains on the batches an uninterrupted seeded run reads
    after step 4 (the input iterator is saved with the checkpoint) and, without dropout,
    ends with the same weights and optimizer state, bit for bit."""
    from t2tlike.errors import Stopped, UserError
    problem, data_dir = tiny_data
    run = lambda out, seen, evals=1: _recording(Trainer(   # noqa: E731
        problem, "transformer", _hparams(**helpers.NO_DROPOUT), data_dir, str(out),
        train_steps=7, eval_steps=evals, local_eval_frequency=3, save_checkpoints_steps=2,
        save_checkpoints_secs=0, random_seed=1), seen)
    straight, first, second = [], [], []
    trainer, seen, errors = run(tmp_path, first), [], []

    def failing_eval(eval_fn=None, dataset=None):
        seen.append(os.path.basename(tf.train.latest_checkpoint(str(tmp_path))))
        raise tf.errors.ResourceExhaustedError(None, None, "OOM on a long dev example")

    monkeypatch.setattr(trainer, "evaluate", failing_eval)
    monkeypatch.setattr(trainer_lib.logging, "error", lambda fmt, *a: errors.append(fmt % a))
    monkeypatch.setattr(trainer.tasks, "on_step",
                        lambda step: step == 5 and os.kill(os.getpid(), signal.SIGINT))
    handler = signal.getsignal(signal.SIGINT)   # Python's, or SIG_IGN under a shell's `&`
    with pytest.raises(Stopped, match="stopped by SIGINT at step 5") as stopped:
        trainer.train()
    assert stopped.value.exit_status == 130
    assert seen == ["model-3"]                       # saved, then evaluated
    assert len(errors) == 1 and "Evaluation at step 3 failed, training goes on" in errors[0]
    assert "OOM on a long dev example" in errors[0]
    saved = tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths
    assert [os.path.basename(p) for p in saved] == ["model-2", "model-3", "model-4", "model-5"]
    assert signal.getsignal(signal.SIGINT) == handler              # restored

    index = tmp_path / "model-5.index"
    index.write_bytes(index.read_bytes()[:40])
    with pytest.raises(UserError, match=r"model-5 cannot be read .* truncated or corrupt\. "
                                        r"The run's previous checkpoint is .*model-4"):
        trainer.train()        # what a resumed run says (the model is built already)
    for name in tmp_path.glob("model-5.*"):      # as the message says
        name.unlink()
    resumed = run(tmp_path, second, evals=0)
    resumed.train()                              # from step 4 to 7
    assert int(resumed.step.numpy()) == 7

    uninterrupted = run(tmp_path / "straight", straight, evals=0)
    uninterrupted.train()
    assert len(straight) == 7 and len(set(straight)) > 4
    assert first[:4] + second == straight
    for mine, theirs in zip(resumed.model.variables + resumed.optimizer.variables,
                            uninterrupted.model.variables + uninterrupted.optimizer.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_non_finite_steps_are_skipped_and_a_streak_stops_the_run_and_a_full_disk(
        tiny_data, tmp_path, monkeypatch):
    """From step 5 on the loss is NaN: those steps leave the weights and the optimizer
    alone, are counted, and the third in a row stops the run (exit status 1) naming the
    newest checkpoint, whose weights are finite and those of step 4. Weights that are not
    finite are never saved; a save that fails (a full disk) is one message and leaves
    nothing behind. (A NaN step in bfloat16, and float16's loss-scale optimizer
    skipping overflowed steps itself, counted the same way: tests/test_precision.py.)"""
    from t2tlike.errors import Stopped
    problem, data_dir = tiny_data
    hp = _hparams(mixed_precision="none", max_consecutive_skipped_steps=3)
    trainer = Trainer(problem, "transformer", hp, data_dir, str(tmp_path), train_steps=50,
                      eval_steps=0, save_checkpoints_steps=2, save_checkpoints_secs=0,
                      random_seed=1)
    loss_of = trainer.model.training_loss

    def poisoned(logits, features):
        num, den = loss_of(logits, features)
        return num * tf.where(trainer.step >= 4, float("nan"), 1.0), den

    monkeypatch.setattr(trainer.model, "training_loss", poisoned)
    with pytest.raises(Stopped, match=r"training diverged: .* in the last 3 steps, 5 to 7, all "
                                      r"skipped \(max_consecutive_skipped_steps=3\)\. The "
                                      r"newest checkpoint, .*model-6, has finite weights") as e:
        trainer.train()
    assert e.value.exit_status == 1
    assert int(trainer.step.numpy()) == 7
    assert int(trainer.skipped_steps.numpy()) == 3
    reader = lambda n: tf.train.load_checkpoint(str(tmp_path / f"model-{n}"))  # noqa: E731
    at_4, at_6 = reader(4), reader(6)
    weights = [k for k in at_6.get_variable_to_shape_map() if k.startswith("model/")
               and at_6.get_variable_to_dtype_map()[k].is_floating]
    assert weights
    for key in weights:
        assert np.isfinite(at_6.get_tensor(key)).all(), key
        np.testing.assert_array_equal(at_6.get_tensor(key), at_4.get_tensor(key))
    finite = trainer.model.trainable_variables[0].numpy()
    trainer.model.trainable_variables[0].assign_add(tf.fill(finite.shape, float("inf")))
    with pytest.raises(Stopped, match="not finite at step 8; nothing was saved"):
        trainer.save(8)
    assert not list(tmp_path.glob("model-8*"))

    # a full disk while the checkpoint is written: one message, the previous one kept
    trainer.model.trainable_variables[0].assign(finite)

    def disk_full(*args, **kwargs):
        assert list(tmp_path.glob("model-8_temp/*")), "the shards are written first"
        raise tf.errors.ResourceExhaustedError(None, None, "model-8_temp/part-00000-of-00001."
                                               "data-00000-of-00001: No space left on device")

    monkeypatch.setattr(functional_saver.gen_io_ops, "merge_v2_checkpoints", disk_full)
    with pytest.raises(Stopped, match=r"could not save the checkpoint of step 8 in .*: .*No "
                                      r"space left on device\. The newest checkpoint, "
                                      r".*model-6, has finite weights"):
        trainer.save(8)
    assert not list(tmp_path.glob("model-8*"))                    # no _temp folder left
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model-6")
    tf.train.load_checkpoint(str(tmp_path / "model-6"))          # readable


def test_a_second_signal_exits_at_once(monkeypatch):
    exits, stop = [], run_control.StopOnSignal()
    monkeypatch.setattr(run_control.os, "_exit", exits.append)
    stop._handle(signal.SIGTERM, None)
    assert (stop.signal, stop.name, exits) == (signal.SIGTERM, "SIGTERM", [])
    stop._handle(signal.SIGINT, None)
    assert exits == [128 + signal.SIGINT]


def test_signal_handlers_are_restored_after_training():
    before = signal.getsignal(signal.SIGTERM)
    with run_control.StopOnSignal() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
    assert signal.getsignal(signal.SIGTERM) == before

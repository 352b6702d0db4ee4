"""Mixed precision (t2tlike/precision.py): the policy chosen, float32 master
weights with lower-precision compute, a NaN step skipped in bfloat16, and float16's loss
scaling skipping overflowed steps."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.errors import Stopped, UserError
from t2tlike.hparams import HParams
from t2tlike import precision
from t2tlike.training.trainer import Trainer
from helpers import tiny_transformer_hparams as _hparams


@pytest.mark.parametrize("mode", ["none", "bfloat16", "float16"])
def test_explicit_modes_are_kept(mode):
    assert precision.resolve(HParams(mixed_precision=mode)) == mode


def test_bad_mode_is_one_clear_error():
    with pytest.raises(UserError, match="mixed_precision must be one of.*bfloat16"):
        precision.resolve(HParams(mixed_precision="fp16"))


@pytest.mark.parametrize("flags, gpu, expected", [("fpu avx2 fma", False, "none"),
                                                  ("avx2 avx512f avx512_bf16", False, "bfloat16"),
                                                  ("avx2 amx_bf16 amx_tile", False, "bfloat16"),
                                                  ("avx2", True, "float16")])
def test_auto_follows_the_device(tmp_path, monkeypatch, flags, gpu, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(precision, "CPUINFO", str(cpuinfo))
    monkeypatch.setattr(precision, "_has_gpu", lambda: gpu)
    assert precision.resolve(HParams(mixed_precision="auto")) == expected


def test_the_cpu_flags_come_from_T2TLIKE_CPUINFO_when_it_is_set(monkeypatch):
    monkeypatch.setenv("T2TLIKE_CPUINFO", "/elsewhere/cpuinfo")
    assert precision.cpuinfo_path() == "/elsewhere/cpuinfo"
    monkeypatch.delenv("T2TLIKE_CPUINFO")
    assert precision.cpuinfo_path() == "/proc/cpuinfo"


def _batch(trainer):
    return next(iter(trainer.problem.dataset("train", trainer.data_dir, trainer.input_config,
                                             seed=1)))


def _layers(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dense)]


def test_bfloat16_keeps_float32_weights_computes_in_bfloat16_and_learns(tiny_data, tmp_path):
    problem, data_dir = tiny_data
    hparams = _hparams(mixed_precision="bfloat16").replace(
        learning_rate_schedule="constant", learning_rate_constant=3e-3)
    trainer = Trainer(problem, "transformer", hparams, data_dir, str(tmp_path), train_steps=1,
                      random_seed=1)
    assert keras.config.dtype_policy().name == "float32"    # the global policy is untouched
    batch = _batch(trainer)
    trainer.build(batch)
    assert trainer.model.precision == "bfloat16"
    assert all(v.dtype == "float32" for v in trainer.model.trainable_variables)
    dense = _layers(trainer.model)
    assert dense and all(layer.compute_dtype == "bfloat16" for layer in dense)
    assert trainer.model(batch).dtype == tf.float32          # logits leave the top in float32
    poison, loss_of = tf.Variable(1.0), trainer.model.training_loss
    trainer.model.training_loss = lambda logits, features: (  # NaN when poison is
        lambda num, den: (num * poison, den))(*loss_of(logits, features))
    step = trainer.train_step()
    losses = [float(step(batch)[0]) for _ in range(12)]     # fit one batch
    assert all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses
    assert int(trainer.skipped_steps.numpy()) == 0
    poison.assign(float("nan"))          # a NaN loss: the step is skipped and counted
    before = [v.numpy() for v in trainer.model.trainable_variables + trainer.optimizer.variables]
    assert np.isnan(float(step(batch)[0]))
    assert int(trainer.skipped_steps.numpy()) == 1 == int(trainer.consecutive_skipped.numpy())
    for value, v in zip(before, trainer.model.trainable_variables + trainer.optimizer.variables):
        np.testing.assert_array_equal(v.numpy(), value)
    inputs = {"inputs": batch["inputs"][:2]}
    for beam_size in (1, 2):   # the cached decoders run in the model's precision too
        out = trainer.model.infer(inputs, beam_size=beam_size, extra_length=3)
        assert out["outputs"].shape[0] == 2
    assert keras.config.dtype_policy().name == "float32"


def test_float16_loss_scaling_skips_and_counts_overflowed_steps(tiny_data, tmp_path):
    problem, data_dir = tiny_data
    trainer = Trainer(problem, "transformer", _hparams(mixed_precision="float16"), data_dir,
                      str(tmp_path), train_steps=1, random_seed=1)
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    batch = _batch(trainer)
    trainer.build(batch)
    assert all(v.dtype == "float32" for v in trainer.model.trainable_variables)
    assert all(layer.compute_dtype == "float16" for layer in _layers(trainer.model))
    step = trainer.train_step()
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]

    trainer.optimizer.dynamic_scale.assign(1e30)    # float16 gradients overflow to inf
    loss, _ = step(batch)
    assert np.isfinite(float(loss))                 # the reported loss is unscaled
    assert int(trainer.skipped_steps.numpy()) == 1
    assert float(trainer.optimizer.dynamic_scale.numpy()) == pytest.approx(5e29)
    assert all(np.array_equal(b, v.numpy())
               for b, v in zip(before, trainer.model.trainable_variables))   # not applied
    assert int(trainer.optimizer.iterations.numpy()) == 0
    assert int(trainer.consecutive_skipped.numpy()) == 1   # a persistent overflow would stop
    trainer.max_consecutive_skipped = 1                    # the run, as any non-finite step
    with pytest.raises(Stopped, match="training diverged: .* in step 1, skipped"):
        trainer._stop_if_diverged(1)

    trainer.optimizer.dynamic_scale.assign(128.0)
    step(batch)
    step(batch)    # (the first update runs at the warm-up's learning rate 0)
    assert int(trainer.skipped_steps.numpy()) == 1
    assert int(trainer.consecutive_skipped.numpy()) == 0
    assert int(trainer.optimizer.iterations.numpy()) == 2
    assert any(not np.array_equal(b, v.numpy())
               for b, v in zip(before, trainer.model.trainable_variables))   # applied
    assert all(np.all(np.isfinite(v.numpy())) for v in trainer.model.trainable_variables)

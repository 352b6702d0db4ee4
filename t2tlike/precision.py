"""Mixed precision, as OpenSeq2Seq trained: float32 master weights, lower-precision compute.

The hparam `mixed_precision` picks the compute type:
  none      float32 everywhere
  bfloat16  Keras's "mixed_bfloat16" policy: variables float32, matmuls and activations
            bfloat16. Same exponent range as float32, so no loss scaling. Pays on CPUs
            with bfloat16 units (AVX-512 BF16 / AMX) and on TPUs; elsewhere TensorFlow
            emulates it and it is slower than float32.
  float16   Keras's "mixed_float16" policy plus dynamic loss scaling
            (keras.optimizers.LossScaleOptimizer: the loss is multiplied by a scale that
            halves whenever a gradient overflows and doubles after 2,000 clean steps). A
            step whose gradients are not finite is skipped (the weights are left alone),
            as the trainer skips one in every precision (`Trainer.skipped_steps`, the
            progress line, TensorBoard "train/skipped_steps"). For GPUs with tensor cores.
  auto      (default) float16 when TensorFlow sees a GPU, bfloat16 when the CPU reports
            bfloat16 units (avx512_bf16 or amx_bf16 in /proc/cpuinfo), else none.

The loss, the softmax cross-entropy and everything the decoders score stay float32 (the
modalities cast the logits). A checkpoint holds float32 weights whatever the setting, so
a model trained in one precision decodes in another (resuming training in another keeps
the weights; float16's optimizer state is wrapped differently and starts afresh).

`t2t_model.build_model` resolves the mode once and creates the model under its policy,
passing the mode to the model (`T2TModel.precision`); the model gives its policy to its
modalities and every built-in layer passes its own dtype policy down to the sublayers it
creates, so nothing depends on a global policy after construction. `describe` is the
device/precision line the trainer logs.
"""
import contextlib
import functools
import os

import keras

from t2tlike.errors import UserError, did_you_mean

MODES = ("auto", "none", "bfloat16", "float16")
POLICIES = {"none": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpuinfo_path():
    """Where `auto` reads the CPU's flags: /proc/cpuinfo, or the file in the same format
    that the environment variable T2TLIKE_CPUINFO names (the tests make every process,
    CLIs included, decide as on a given CPU kind)."""
    return os.environ.get("T2TLIKE_CPUINFO") or "/proc/cpuinfo"


CPUINFO = cpuinfo_path()   # read once, at import


@functools.lru_cache(maxsize=None)
def _cpu_flags(cpuinfo):
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            return frozenset(f.read().split())
    except OSError:
        return frozenset()


def cpu_has_bfloat16_units():
    """True when the CPU reports bfloat16 units (AVX-512 BF16 or AMX) in CPUINFO."""
    return any(flag in _cpu_flags(CPUINFO) for flag in CPU_BF16_FLAGS)


def describe(mode):
    """One line for the logs: the device and the compute precision `mode` runs in."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    device = f"{len(gpus)} GPU(s)" if gpus else \
        "CPU" + (" with bfloat16 units" if cpu_has_bfloat16_units() else "")
    compute = {"none": "float32", "bfloat16": "bfloat16 (float32 weights)",
               "float16": "float16 (float32 weights, loss scaling)"}[mode]
    return f"{device}; compute precision {compute}"


def _has_gpu():
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))


def resolve(hparams):
    """The precision `hparams.mixed_precision` asks for on this machine: none, bfloat16 or
    float16 (`auto` decided by the device)."""
    mode = str(hparams.mixed_precision).lower()
    if mode not in MODES:
        raise UserError(f"mixed_precision must be one of {', '.join(MODES)}; got "
                        f"{hparams.mixed_precision!r}.{did_you_mean(mode, MODES)} "
                        "e.g. --hparams=mixed_precision=bfloat16.")
    if mode != "auto":
        return mode
    if _has_gpu():
        return "float16"
    return "bfloat16" if cpu_has_bfloat16_units() else "none"


@contextlib.contextmanager
def policy_scope(mode):
    """Layers created (and built) inside use the Keras dtype policy of `mode`."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[mode])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def wrap_optimizer(optimizer, mode):
    """float16 needs loss scaling: the optimizer wrapped in Keras's LossScaleOptimizer."""
    if mode != "float16":
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)

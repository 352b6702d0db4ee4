"""Averaging the last N checkpoints of a run into one (T2T's avg_all / avg_checkpoints).

Works on the checkpoint files alone, so it needs no model, problem or hparams: every
floating-point variable is the mean of its values in the chosen checkpoints; every other
tensor (step counters, the optimizer's iteration count, the saved object graph) is taken
from the newest one. The result keeps the newest checkpoint's keys and object graph, so
`tf.train.Checkpoint(model=model).restore(path)` (what the decoder does) reads it like
any checkpoint the trainer wrote.

The averaged checkpoint is written under a temporary name in output_dir and renamed into
place; the `checkpoint` state file naming it is written last, so a reader never sees a
partial result. The run's hparams.json and run.json are copied alongside, so
`t2t-decoder --output_dir=<output_dir>` finds the same configuration as for the run.
"""
import dataclasses
import os
import re
import tempfile

import numpy as np
from absl import logging

from t2tlike.errors import UserError, first_line
from t2tlike.files import atomic_write

CHECKPOINT_NAME = "model"          # the trainer's CheckpointManager checkpoint_name
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
RUN_FILES = ("hparams.json", "run.json", "operative_config.gin")
_STEP = re.compile(r"-(\d+)$")


@dataclasses.dataclass(frozen=True)
class AveragedCheckpoint:
    path: str            # the prefix written (output_dir/model-<newest step>)
    steps: list          # the steps of the checkpoints averaged, oldest first
    num_averaged: int    # float variables averaged
    num_copied: int      # other tensors copied from the newest checkpoint


def list_checkpoints(model_dir, min_steps=0):
    """[(step, prefix)] of the checkpoints in model_dir with step >= min_steps, oldest first.

    The checkpoints are those its `checkpoint` state file lists (CheckpointManager adds
    one only once it is completely written, and drops those it deleted), so an orphaned
    or half-written `<prefix>-<step>` is never chosen. Without a state file (checkpoints
    copied by hand), every `<prefix>-<step>.index` file counts.
    """
    import tensorflow as tf
    if not model_dir or not tf.io.gfile.isdir(model_dir):
        raise UserError(f"--model_dir {model_dir} does not exist or is not a directory; it "
                        "should be a t2t-trainer --output_dir holding checkpoints.")
    if tf.io.gfile.exists(os.path.join(model_dir, "checkpoint")):
        state = tf.train.get_checkpoint_state(model_dir)
        # (relative paths in the file come back joined to model_dir)
        prefixes = list(state.all_model_checkpoint_paths) if state else []
    else:
        logging.warning("%s has no checkpoint state file; averaging the *.index files there.",
                        model_dir)
        prefixes = [i[:-len(".index")]
                    for i in tf.io.gfile.glob(os.path.join(model_dir, "*.index"))]
    found = []
    for prefix in prefixes:
        match = _STEP.search(os.path.basename(prefix))
        if match and int(match.group(1)) >= min_steps:
            found.append((int(match.group(1)), prefix))
    return sorted(found)


def _reader(prefix):
    import tensorflow as tf
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise UserError(f"checkpoint {prefix} cannot be read ({first_line(e)}): it is truncated or "
                        "corrupt. Delete its files and its line in the `checkpoint` state "
                        "file, or raise --min_steps past it.") from None


def average_checkpoints(prefixes):
    """({tensor name: numpy value}, {tensor name: tf.DType}) over `prefixes` (oldest first).

    Float tensors are the mean over the prefixes (summed in float64, cast back); other
    tensors come from the last (newest) prefix, except the training input's position (a
    variant tensor), which is left out. Every checkpoint must hold the newest one's float
    variables with the same shapes.
    """
    import tensorflow as tf
    if not prefixes:
        raise UserError("no checkpoints to average.")
    readers = [_reader(p) for p in prefixes]
    newest = readers[-1]
    shapes = newest.get_variable_to_shape_map()
    dtypes = newest.get_variable_to_dtype_map()
    values = {}
    for name in sorted(shapes):
        dtype = dtypes[name]
        if dtype == tf.variant:   # the input iterator's state: no value to average or copy
            continue
        if not dtype.is_floating:
            values[name] = newest.get_tensor(name)
            continue
        total = np.zeros(shapes[name], np.float64)
        for prefix, reader in zip(prefixes, readers):
            if not reader.has_tensor(name):
                raise UserError(f"checkpoint {prefix} has no variable {name!r}, which the newest "
                                f"checkpoint {prefixes[-1]} has; only checkpoints of the same "
                                "model can be averaged (lower --n or raise --min_steps).")
            value = reader.get_tensor(name)
            if list(np.shape(value)) != list(shapes[name]):
                raise UserError(f"variable {name!r} has shape {list(np.shape(value))} in "
                                f"{prefix} but {list(shapes[name])} in {prefixes[-1]}; only "
                                "checkpoints of the same model can be averaged.")
            total += np.asarray(value, np.float64)
        values[name] = (total / len(prefixes)).astype(dtype.as_numpy_dtype)
    return values, {name: dtypes[name] for name in values}


def write_checkpoint(values, dtypes, output_dir, name):
    """Saves {tensor name: value} as checkpoint `output_dir/name`, atomically; returns it.

    The tensors keep their names (object-graph keys included), so object-based restoring
    works. The `checkpoint` state file is updated last.
    """
    import tensorflow as tf
    os.makedirs(output_dir, exist_ok=True)
    names = sorted(values)
    final = os.path.join(output_dir, name)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".avg-tmp-") as tmp:
        tmp_prefix = os.path.join(tmp, name)
        tf.raw_ops.SaveV2(prefix=tmp_prefix, tensor_names=names,
                          shape_and_slices=[""] * len(names),
                          tensors=[tf.constant(values[n], dtype=dtypes[n]) for n in names])
        written = sorted(os.listdir(tmp), key=lambda f: f.endswith(".index"))  # index last
        for f in written:
            os.replace(os.path.join(tmp, f), os.path.join(output_dir, f))
    _write_state_file(output_dir, name)
    return final


def _write_state_file(output_dir, name):
    """The `checkpoint` file tf.train.latest_checkpoint reads (a relative path, so the
    folder can be moved), written atomically."""
    state = f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n'
    atomic_write(os.path.join(output_dir, "checkpoint"), state)


def _copy_run_files(model_dir, output_dir):
    """Copies the run's config files (RUN_FILES) that exist, each atomically."""
    for fname in RUN_FILES:
        src = os.path.join(model_dir, fname)
        if os.path.exists(src):
            with open(src, "rb") as f:
                atomic_write(os.path.join(output_dir, fname), f.read())


def average_last(model_dir, output_dir, n=8, min_steps=0):
    """Averages the last `n` checkpoints (step >= min_steps) of model_dir into output_dir.

    Fewer than n checkpoints: averages those there are, with a warning. Returns an
    AveragedCheckpoint.
    """
    if n < 1:
        raise UserError(f"--n must be at least 1 (how many checkpoints to average); got {n}.")
    if min_steps < 0:
        raise UserError(f"--min_steps must be >= 0; got {min_steps}.")
    found = list_checkpoints(model_dir, min_steps)
    if not found:
        raise UserError(f"no checkpoints{f' with step >= {min_steps}' if min_steps else ''} in "
                        f"{model_dir} (looked for <name>-<step>.index files). Train first, or "
                        "lower --min_steps.")
    if os.path.realpath(model_dir) == os.path.realpath(output_dir):
        raise UserError(f"--output_dir must differ from --model_dir ({model_dir}): the average "
                        "would replace the run's checkpoint state. Use e.g. "
                        f"--output_dir={os.path.join(model_dir, 'avg')}.")
    chosen = found[-n:]
    if len(chosen) < n:
        logging.warning("Only %d checkpoint(s) in %s (asked for --n=%d); averaging those.",
                        len(chosen), model_dir, n)
    steps = [step for step, _ in chosen]
    logging.info("Averaging %d checkpoints of %s: steps %s", len(chosen), model_dir, steps)
    values, dtypes = average_checkpoints([prefix for _, prefix in chosen])
    path = write_checkpoint(values, dtypes, output_dir, f"{CHECKPOINT_NAME}-{steps[-1]}")
    _copy_run_files(model_dir, output_dir)
    num_averaged = sum(1 for d in dtypes.values() if d.is_floating)
    logging.info("Wrote %s (%d variables averaged, %d copied from step %d).", path,
                 num_averaged, len(values) - num_averaged, steps[-1])
    return AveragedCheckpoint(path, steps, num_averaged, len(values) - num_averaged)

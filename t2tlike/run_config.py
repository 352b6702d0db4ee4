"""What a run was started with, kept in output_dir so a restart is the same run.

output_dir/run.json         problem, model, hparams set and overrides of the first start
output_dir/hparams.json     the resolved hparams
output_dir/operative_config.gin   gin's operative config (written by the trainer)

A restart reuses the stored hparams; an override that contradicts them is refused with a
message, since resuming a checkpoint under different hparams is rarely what anyone meant.
"""
import json
import os

from absl import logging

from t2tlike.errors import UserError
from t2tlike.files import atomic_write
from t2tlike.hparams import HParams, create_hparams, parse_overrides

RUN_FILE = "run.json"
HPARAMS_FILE = "hparams.json"
GIN_FILE = "operative_config.gin"


def cpu_cores():
    """The CPU cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(cores or 1, 1)


def set_cpu_threads(intra, inter):
    """T2T's --intra_op_parallelism_threads / --inter_op_parallelism_threads: 0 keeps
    TensorFlow's default (one thread per core). Call before TensorFlow runs its first op.
    Returns whether anything was set."""
    for name, value in (("intra", intra), ("inter", inter)):
        if value < 0:
            raise UserError(f"--{name}_op_parallelism_threads={value}: expected 0 (TensorFlow's "
                            "default, one per core) or a positive number of threads.")
    if not (intra or inter):
        return False
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    return True


def resolve(output_dir, problem, model, hparams_set, overrides=""):
    """The hparams for this run: stored ones on a restart, else the set plus overrides."""
    fresh = create_hparams(hparams_set, overrides)
    hp_path = os.path.join(output_dir, HPARAMS_FILE)
    run_path = os.path.join(output_dir, RUN_FILE)
    if not os.path.exists(hp_path):
        return fresh
    with open(run_path if os.path.exists(run_path) else hp_path, encoding="utf-8") as f:
        run = json.load(f) if os.path.exists(run_path) else {}
    for key, value in (("problem", problem), ("model", model)):
        if run.get(key) not in (None, value):
            raise UserError(
                f"output_dir {output_dir} holds a run of --{key}={run[key]}, not {value}. "
                "Use a new --output_dir, or the original flags to resume.")
    with open(hp_path, encoding="utf-8") as f:
        stored = HParams.from_json(f.read())
    conflicts = [f"{k}={stored.get(k)!r} (stored) vs {v!r} (--hparams)"
                 for k, v in parse_overrides(overrides, fresh).items()
                 if k in stored and stored.get(k) != v]
    if conflicts:
        raise UserError(f"output_dir {output_dir} was trained with different hparams: "
                        f"{'; '.join(conflicts)}. Resume without those overrides, or start a "
                        "new run in another --output_dir.")
    try:  # what the set gives today with the run's original overrides
        original = create_hparams(hparams_set, run.get("hparams", ""))
    except UserError:
        original = fresh
    changed = [k for k in original.keys() if k in stored and stored.get(k) != original.get(k)]
    if changed:
        logging.warning("Resuming with the hparams stored in %s; the set %s now differs in: %s",
                        hp_path, hparams_set, ", ".join(changed))
    return with_added_keys(stored, fresh)


def with_added_keys(stored, current):
    """`stored` (a run's hparams) extended with the keys of `current` (its set today) that
    it lacks: keys the toolkit gained since the run started, at the set's values."""
    added = {k: current.get(k) for k in current.keys() if k not in stored}
    if not added:
        return stored
    logging.info("The run's stored hparams lack %s: the set's values are used.",
                 ", ".join(f"{k}={v!r}" for k, v in sorted(added.items())))
    return stored.extend(**added)


def run_info(output_dir):
    """output_dir/run.json (problem, model, hparams_set, hparams) as a dict; {} when the
    file is missing or unreadable."""
    try:
        with open(os.path.join(output_dir, RUN_FILE), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def save(output_dir, hparams, problem, model, hparams_set, overrides=""):
    os.makedirs(output_dir, exist_ok=True)
    atomic_write(os.path.join(output_dir, HPARAMS_FILE), hparams.to_json())
    run_path = os.path.join(output_dir, RUN_FILE)
    if not os.path.exists(run_path):
        atomic_write(run_path, json.dumps({"problem": problem, "model": model,
                                           "hparams_set": hparams_set,
                                           "hparams": overrides}, indent=2))

"""The best dev checkpoint of each task of a run, kept apart from the rolling ones.

After every evaluation the trainer hands `BestCheckpoints.update` each task's dev score
(higher is better: dev BLEU for a translation task when the trainer computes it, else
per-sequence accuracy; see multitask.dev_score) and the path of the checkpoint of
that step. When a task's score beats its best so far, the checkpoint's files are copied to
`output_dir/best/TASK/` (one checkpoint per task, with its own `checkpoint` state file), so
`t2t-decoder --checkpoint_path=output_dir/best/TASK` decodes the task from its best step
even after `keep_checkpoint_max` has removed that step from `output_dir`.
`output_dir/best/best.json` lists {task: {"step": ..., "score": ...}}; a resumed run reads
it and keeps improving on it.

Every file is written under a temporary name and renamed, and a task's state file moves to
the new checkpoint only once its files are complete; the old files are removed last. A
crash at any point leaves a complete best checkpoint behind.
"""
import json
import math
import os

import tensorflow as tf
from absl import logging

from t2tlike.errors import first_line
from t2tlike.files import atomic_write

BEST_DIR = "best"
INDEX = "best.json"


class BestCheckpoints:
    """The best dev checkpoint per task in `output_dir/best/`; see the module docstring."""

    def __init__(self, output_dir):
        self.dir = os.path.join(output_dir, BEST_DIR)
        self.best = {}
        index = os.path.join(self.dir, INDEX)
        if tf.io.gfile.exists(index):
            try:
                with tf.io.gfile.GFile(index) as f:
                    self.best = dict(json.load(f))
            except (ValueError, TypeError) as e:   # edited by hand into something else
                logging.warning("Ignoring %s, which is not a JSON object of best scores (%s): "
                                "the best checkpoints start again from this run's "
                                "evaluations.", index, first_line(e))

    def task_dir(self, task):
        return os.path.join(self.dir, task)

    def keep(self, scores, step, prefix):
        """`update`, except that a failed copy (a full disk) is reported, not raised: the
        trainer goes on."""
        try:
            return self.update(scores, step, prefix)
        except (OSError, tf.errors.OpError) as e:
            logging.error("Could not keep the best checkpoint of step %d (training goes on): "
                          "%s", step, first_line(e))
            return []

    def update(self, scores, step, prefix):
        """Copies checkpoint `prefix` (of `step`) to the folder of every task in `scores`
        ({task: score}) whose score beats its best; returns the tasks that improved."""
        improved = [task for task, score in scores.items()
                    if math.isfinite(score) and score > self.best.get(task, {}).get(
                        "score", -math.inf)]
        for task in improved:
            self._copy(task, prefix)
            self.best[task] = {"step": int(step), "score": float(scores[task])}
            logging.info("New best %s checkpoint: step %d, score %.4f (in %s).", task, step,
                         scores[task], self.task_dir(task))
        if improved:
            atomic_write(os.path.join(self.dir, INDEX),
                         json.dumps(self.best, indent=1, sort_keys=True) + "\n")
        return improved

    def _copy(self, task, prefix):
        target = self.task_dir(task)
        tf.io.gfile.makedirs(target)
        name = os.path.basename(prefix)
        old = tf.train.get_checkpoint_state(target)
        for source in tf.io.gfile.glob(prefix + ".*"):
            dest = os.path.join(target, os.path.basename(source))
            tf.io.gfile.copy(source, dest + ".tmp", overwrite=True)
            tf.io.gfile.rename(dest + ".tmp", dest, overwrite=True)
        # TensorFlow's state file (a CheckpointState text proto), the path relative to
        # `target` so that the folder can move
        atomic_write(os.path.join(target, "checkpoint"),
                     f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
        if old and old.model_checkpoint_path and \
                os.path.basename(old.model_checkpoint_path) != name:
            for stale in tf.io.gfile.glob(os.path.join(
                    target, os.path.basename(old.model_checkpoint_path)) + ".*"):
                tf.io.gfile.remove(stale)

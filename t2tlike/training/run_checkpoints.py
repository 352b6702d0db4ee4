"""A training run's checkpoints: what is saved, when a save is refused, how a run resumes.

`RunCheckpoints` keeps the trainer's state (model, optimizer, step, skipped steps, a
multi-problem's task state) in `output_dir` with a tf.train.CheckpointManager (prefix
`model`, `keep_checkpoint_max` kept), and, once training starts, the training input's
tf.data iterator under the key `data`, so a resumed run reads on where it stopped.

- `restore_latest` resumes from the newest checkpoint the state file lists whose files
  exist (deleting a broken one's files falls back to the one before), strictly
  (checkpoints.restore_run).
- `track_input` puts a fresh input iterator at the restored position (or says why it
  cannot) and saves the iterator from then on.
- With `write_dir` (a worker that is not the chief: every worker saves, only the chief
  into `output_dir`), saves go to `write_dir` and are deleted at once; resuming still
  reads `output_dir`.
- `save` never writes weights or optimizer state that are not finite, and a save that
  fails (a full disk) removes what it left, keeps the previous checkpoint listed and
  stops the run with one message.
"""
import os

import tensorflow as tf
from absl import logging

from t2tlike import checkpoints
from t2tlike.errors import Stopped, first_line
from t2tlike.training import optimizers


class RunCheckpoints:
    """The checkpoints of one run in `output_dir`; `state`: {name: trackable}."""

    def __init__(self, output_dir, state, keep_checkpoint_max, write_dir=None):
        self.output_dir, self.state, self.keep = output_dir, dict(state), keep_checkpoint_max
        self.write_dir = write_dir
        self.checkpoint = tf.train.Checkpoint(**self.state)   # what a resume restores
        self.manager = self._manager(self.checkpoint)

    def _manager(self, checkpoint, directory=None):
        return tf.train.CheckpointManager(
            checkpoint, directory or self.write_dir or self.output_dir,
            max_to_keep=self.keep, checkpoint_name="model")

    def restore_latest(self):
        """Restores the state (built) from the newest usable checkpoint; returns its path,
        or None when the run starts afresh."""
        run = self._manager(self.checkpoint, self.output_dir)   # the state file now
        listed = [p for p in run.checkpoints if tf.io.gfile.exists(p + ".index")]
        if not listed:
            return None
        return checkpoints.restore_run(self.checkpoint, listed[-1],
                                       previous=listed[-2] if len(listed) > 1 else None)

    def track_input(self, dataset, restored):
        """An iterator over `dataset` (the training input), at the position saved in
        checkpoint `restored` (when given); from now on the saves hold its position too."""
        iterator = iter(dataset)
        why_not = checkpoints.can_save_position(iterator)
        if why_not:
            logging.warning("The input position is not saved with the checkpoints (%s): a "
                            "resumed run reads its input from a fresh shuffle.", why_not)
            return iterator
        if restored:
            failed = checkpoints.restore_data_position(iterator, restored)
            if failed:
                logging.warning("The input position is not restored (%s): the input starts "
                                "from a fresh shuffle.", failed)
                iterator = iter(dataset)
            else:
                logging.info("The input continues where %s left it.", restored)
        self.manager = self._manager(tf.train.Checkpoint(
            **self.state, **{checkpoints.DATA: iterator}))
        return iterator

    def save(self, step, variables):
        """Writes the checkpoint of `step`, unless a value of `variables` (the weights and
        the optimizer state) is not finite; returns its path. Raises errors.Stopped when it
        refuses or the save fails, the saved checkpoints kept."""
        if not bool(optimizers.all_finite(variables)):
            raise Stopped(f"the weights or optimizer state are not finite at step {step}; "
                          f"nothing was saved. {self.describe_newest()}", 1)
        try:
            path = self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as e:   # a full disk, a failing file system
            self._remove_unlisted(step)
            raise Stopped(f"could not save the checkpoint of step {step} in "
                          f"{self.write_dir or self.output_dir}: {first_line(e)}. "
                          f"{self.describe_newest()} Free some space (or fix the folder) "
                          "and run the same command again to resume from it.", 1) from None
        if self.write_dir:   # a worker's copy: the chief's is the run's
            tf.io.gfile.rmtree(self.write_dir)
            return None
        logging.info("Saved %s.", path)
        return path

    def describe_newest(self):
        """One sentence naming the newest checkpoint (saves are finite), for messages."""
        newest = tf.train.latest_checkpoint(self.output_dir) if self.write_dir \
            else self.manager.latest_checkpoint
        return (f"The newest checkpoint, {newest}, has finite weights." if newest
                else "No checkpoint was saved.")

    def _remove_unlisted(self, step):
        """Removes what a failed save of `step` left (its `_temp` folder, and its files
        unless the state file lists them), so a full disk does not fill up further."""
        prefix = os.path.join(self.write_dir or self.output_dir, f"model-{step}")
        for leftover in tf.io.gfile.glob(prefix + "_temp*"):
            if tf.io.gfile.isdir(leftover):
                tf.io.gfile.rmtree(leftover)
            else:
                tf.io.gfile.remove(leftover)
        if prefix not in self.manager.checkpoints:
            for leftover in tf.io.gfile.glob(prefix + ".*"):
                tf.io.gfile.remove(leftover)

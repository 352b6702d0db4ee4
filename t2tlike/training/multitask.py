"""The trainer's side of multi-task training: a MultiProblem's task schedule at run time.

`MultiTask.for_problem(problem, hparams, data_dir)` is None for a single problem. For a
MultiProblem (data_generators/multi_problem.py) it holds the `TaskSchedule` built from the
`multiproblem_*` hparams (t2tlike/training/task_schedules.py) and applies it:

- the sampling probabilities go into the problem's `task_weights` variable, which the
  training mixture reads for every batch (step-dependent schedules, `exponential` and
  `pretrain`, are re-applied at every step);
- the per-task loss multipliers (`adaptive_implicit`; ones otherwise) go into
  `loss_weights`, which the train step applies to each batch's loss (a batch holds one
  task);
- after each evaluation, `update` takes each task's dev score and recomputes both
  (adaptive schedules). The score of a task is its dev BLEU when the trainer computed one
  (the task lists "bleu" among its metrics and `eval_bleu_samples` > 0), else its
  per-sequence accuracy (exact match); `multiproblem_adaptive_baselines` must be in the
  same units, one per task, in task order.

Both variables are saved in the checkpoint, so a resumed adaptive run keeps the mixture it
had reached (until the next evaluation recomputes it).
"""
import numpy as np
import tensorflow as tf
from absl import logging

from t2tlike.errors import UserError
from t2tlike.training import metrics as metrics_lib
from t2tlike.training.task_schedules import MIXING_SCHEDULES, TaskSchedule


def is_multi_problem(problem):
    return hasattr(problem, "task_weights") and hasattr(problem, "task_sizes")


class MultiTask:
    """A MultiProblem's schedule during training; see the module docstring."""

    def __init__(self, problem, hparams, data_dir):
        self.problem = problem
        self.names = list(problem.task_names)
        sizes = problem.task_sizes(data_dir)
        self.schedule = TaskSchedule.from_hparams(hparams, sizes, names=self.names)
        from data_generators.multi_problem import mixing
        self.mixing = mixing(hparams)   # "batch" or "example" (tasks mixed in a batch)
        if self.mixing == "example" and self.schedule.schedule == "adaptive_implicit":
            raise UserError("multiproblem_schedule=adaptive_implicit weights each batch's loss "
                            "by its task, so it needs one task per batch: drop "
                            "multiproblem_mixing=example (or use the explicit 'adaptive').")
        with tf.init_scope():
            self.loss_weights = tf.Variable(np.ones(len(self.names), np.float32),
                                            trainable=False, name="task_loss_weights")
        logging.info("Multi-task training on %d tasks (%s), schedule %s; training examples: "
                     "%s", len(self.names), ", ".join(self.names), self.schedule.schedule,
                     ", ".join(f"{n} {s}" for n, s in zip(self.names, sizes)))

    @classmethod
    def for_problem(cls, problem, hparams, data_dir):
        return cls(problem, hparams, data_dir) if is_multi_problem(problem) else None

    def checkpoint_items(self):
        """Variables to save with the model: the mixture and the loss multipliers."""
        return {"task_weights": self.problem.task_weights,
                "task_loss_weights": self.loss_weights}

    def start(self, step, restored):
        """Sets the mixture at the start of training; a resumed adaptive run keeps the
        restored one."""
        if not (restored and self.schedule.is_adaptive):
            self.apply(step)
        logging.info("Task mixture at step %d: %s", step, self._describe_variables())

    def apply(self, step):
        self.problem.set_task_weights(self.schedule.probabilities(step))
        self.loss_weights.assign(self.schedule.loss_weights().astype(np.float32))

    def on_step(self, step):
        if self.schedule.schedule in MIXING_SCHEDULES:
            self.apply(step)

    def check_model(self, model):
        """A model with a target head per task needs one task per batch."""
        if self.mixing == "example" and getattr(model, "num_heads", 1) > 1 and \
                hasattr(model, "task_is_class_label"):
            raise UserError(f"this {model.name} has {model.num_heads} target heads and picks "
                            "one per batch, so tasks cannot be mixed within a batch: drop "
                            "multiproblem_mixing=example, or train tasks that share one head.")

    def batch_loss_weight(self, features):
        """The loss multiplier of a batch (all its examples belong to one task)."""
        task = tf.cast(tf.reshape(features["task_id"], [-1])[0], tf.int32)
        return tf.gather(self.loss_weights, task)

    @staticmethod
    def score(task_results):
        """A task's dev score for the adaptive schedules (see the module docstring)."""
        if metrics_lib.BLEU in task_results:
            return task_results[metrics_lib.BLEU]
        return task_results.get(metrics_lib.ACC_PER_SEQ, task_results.get(metrics_lib.ACC, 0.0))

    def update(self, per_task_results, step):
        """Feeds the tasks' dev scores to the schedule and applies its new mixture; returns
        {summary name: value} of the probabilities (and loss weights) now in use."""
        scores = [self.score(per_task_results[name]) for name in self.names]
        self.schedule.update(scores)
        self.apply(step)
        logging.info("Task scores at step %d: %s; %s", step,
                     ", ".join(f"{n} {s:.4f}" for n, s in zip(self.names, scores)),
                     self._describe_variables())
        return self.summaries()

    def summaries(self):
        probs = self.problem.task_weights.numpy()
        out = {f"multiproblem/prob/{n}": float(p) for n, p in zip(self.names, probs)}
        weights = self.loss_weights.numpy()
        out.update({f"multiproblem/loss_weight/{n}": float(w)
                    for n, w in zip(self.names, weights)})
        return out

    def _describe_variables(self):
        probs = self.problem.task_weights.numpy()
        text = "task probs: " + ", ".join(f"{n} {p:.3f}" for n, p in zip(self.names, probs))
        weights = self.loss_weights.numpy()
        if not np.allclose(weights, 1.0):
            text += "; loss weights: " + ", ".join(f"{n} {w:.3f}"
                                                   for n, w in zip(self.names, weights))
        return text

"""The trainer's side of multi-task training: a MultiProblem's task schedule at run time.

The trainer talks to one hook object, `task_hooks(problem, hparams, data_dir)`: a
`SingleTask` (every hook a no-op, one evaluation of the dev split) for a single problem, a
`MultiTask` for a MultiProblem (data_generators/multi_problem.py, recognised by its
`task_names` and `task_sizes`). A MultiTask owns the training mixture, a TaskMixture
(t2tlike/input_pipeline.py) that the trainer hands to the training dataset
(`dataset_args`), holds the `TaskSchedule` built from the `multiproblem_*` hparams
(t2tlike/training/task_schedules.py) and applies it:

- the sampling probabilities go into the mixture's `weights` variable, which the
  training dataset reads for every batch (step-dependent schedules, `exponential` and
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

from t2tlike import metrics as metrics_lib
from t2tlike.errors import UserError
from t2tlike.input_pipeline import TaskMixture, mixing_mode
from t2tlike.training.task_schedules import MIXING_SCHEDULES, TaskSchedule


def is_multi_problem(problem):
    return hasattr(problem, "task_names") and hasattr(problem, "task_sizes")


def task_hooks(problem, hparams, data_dir):
    """The trainer's task hooks for `problem`: a MultiTask or a SingleTask."""
    return MultiTask(problem, hparams, data_dir) if is_multi_problem(problem) else SingleTask()


class SingleTask:
    """The task hooks of a single problem: nothing to schedule, one dev evaluation."""

    eval_changes_state = False   # whether `after_eval` changes checkpointed state

    def check_model(self, model):
        pass

    def checkpoint_items(self):
        return {}

    def start(self, step, restored):
        pass

    def on_step(self, step):
        pass

    def weight_loss(self, loss, features):
        return loss

    def dataset_args(self):
        """Extra arguments of the training dataset: none."""
        return {}

    def eval_plan(self):
        """[(results name, task index, metric names to keep)]: one unnamed entry, every
        metric (the trainer's results are then flat, {metric: value})."""
        return [(None, None, None)]

    def after_eval(self, per_task_results, step):
        return {}


class MultiTask:
    """A MultiProblem's schedule during training; see the module docstring."""

    def __init__(self, problem, hparams, data_dir):
        self.problem = problem
        self.names = list(problem.task_names)
        sizes = problem.task_sizes(data_dir)
        self.schedule = TaskSchedule.from_hparams(hparams, sizes, names=self.names)
        # "batch" or "example" (tasks mixed in a batch)
        self.mixing = mixing_mode(hparams.multiproblem_mixing)
        if self.mixing == "example" and self.schedule.schedule == "adaptive_implicit":
            raise UserError("multiproblem_schedule=adaptive_implicit weights each batch's loss "
                            "by its task, so it needs one task per batch: drop "
                            "multiproblem_mixing=example (or use the explicit 'adaptive').")
        self.mixture = TaskMixture(len(self.names), self.names)
        with tf.init_scope():
            self.loss_weights = tf.Variable(np.ones(len(self.names), np.float32),
                                            trainable=False, name="task_loss_weights")
        logging.info("Multi-task training on %d tasks (%s), schedule %s; training examples: "
                     "%s", len(self.names), ", ".join(self.names), self.schedule.schedule,
                     ", ".join(f"{n} {s}" for n, s in zip(self.names, sizes)))

    @property
    def eval_changes_state(self):
        """An adaptive schedule's mixture follows the evals (the trainer saves it again)."""
        return self.schedule.is_adaptive

    def checkpoint_items(self):
        """Variables to save with the model: the mixture and the loss multipliers."""
        return {"task_weights": self.mixture.weights, "task_loss_weights": self.loss_weights}

    def dataset_args(self):
        """Extra arguments of the training dataset: the live mixture."""
        return {"mixture": self.mixture}

    def start(self, step, restored):
        """Sets the mixture at the start of training; a resumed adaptive run keeps the
        restored one."""
        if not (restored and self.schedule.is_adaptive):
            self.apply(step)
        logging.info("Task mixture at step %d: %s", step, self._describe_variables())

    def apply(self, step):
        self.mixture.set(self.schedule.probabilities(step))
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

    def weight_loss(self, loss, features):
        """The batch's loss times its task's multiplier (all its examples belong to one
        task; 1 unless the schedule is adaptive_implicit)."""
        task = tf.cast(tf.reshape(features["task_id"], [-1])[0], tf.int32)
        return loss * tf.cast(tf.gather(self.loss_weights, task), loss.dtype)

    def eval_plan(self):
        """[(task name, task index, the task's metric names)], in task order."""
        return [(name, i, set(self.problem.task_eval_metrics(i)))
                for i, name in enumerate(self.names)]

    @staticmethod
    def score(task_results):
        """A task's dev score for the adaptive schedules (see the module docstring)."""
        if metrics_lib.BLEU in task_results:
            return task_results[metrics_lib.BLEU]
        return task_results.get(metrics_lib.ACC_PER_SEQ, task_results.get(metrics_lib.ACC, 0.0))

    def after_eval(self, per_task_results, step):
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
        probs = self.mixture.weights.numpy()
        out = {f"multiproblem/prob/{n}": float(p) for n, p in zip(self.names, probs)}
        weights = self.loss_weights.numpy()
        out.update({f"multiproblem/loss_weight/{n}": float(w)
                    for n, w in zip(self.names, weights)})
        return out

    def _describe_variables(self):
        text = self.mixture.describe()
        weights = self.loss_weights.numpy()
        if not np.allclose(weights, 1.0):
            text += "; loss weights: " + ", ".join(f"{n} {w:.3f}"
                                                   for n, w in zip(self.names, weights))
        return text

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
  `loss_weights`; the train step multiplies each example's loss by its task's
  (`with_loss_weights`), so they work whether a batch holds one task or mixes them;
- `multiproblem_mixing=auto` (the default) becomes "example" (a task drawn per example,
  so every batch mixes the tasks and every update must read the task tag) unless the
  model has a target head per task and picks one per batch (a MultiModel of several
  heads), which needs "batch"; `check_model` decides and logs the choice;
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
from t2tlike.input_pipeline import MIX_AUTO, MIX_BATCH, MIX_EXAMPLE, TaskMixture, mixing_mode
from t2tlike.t2t_model import EXAMPLE_WEIGHTS
from t2tlike.training.task_schedules import MIXING_SCHEDULES, TaskSchedule


def is_multi_problem(problem):
    return hasattr(problem, "task_names") and hasattr(problem, "task_sizes")


def task_hooks(problem, hparams, data_dir):
    """The trainer's task hooks for `problem`: a MultiTask or a SingleTask."""
    if is_multi_problem(problem):
        return MultiTask(problem, hparams, data_dir)
    return SingleTask(problem.name)


def dev_score(task_results):
    """A task's dev score (higher is better) from its eval results {metric: value}: its
    dev BLEU when computed, else its per-sequence accuracy, else its accuracy; None
    without any of them."""
    for name in (metrics_lib.BLEU, metrics_lib.ACC_PER_SEQ, metrics_lib.ACC):
        if name in task_results:
            return float(task_results[name])
    return None


class SingleTask:
    """The task hooks of a single problem: nothing to schedule, one dev evaluation."""

    eval_changes_state = False   # whether `after_eval` changes checkpointed state

    def __init__(self, name):
        self.name = name

    def check_model(self, model):
        """None: a single problem has no task mixing to decide."""
        return None

    def checkpoint_items(self):
        return {}

    def start(self, step, restored):
        pass

    def on_step(self, step):
        pass

    weights_examples = False   # whether `with_loss_weights` adds per-example weights

    def with_loss_weights(self, features):
        return features

    def dataset_args(self):
        """Extra arguments of the training dataset: none."""
        return {}

    def eval_plan(self):
        """[(results name, task index, metric names to keep)]: one unnamed entry, every
        metric (the trainer's results are then flat, {metric: value})."""
        return [(None, None, None)]

    def after_eval(self, per_task_results, step):
        return {}

    def dev_scores(self, results):
        """{problem name: dev score} of flat eval `results` ({} without a score)."""
        score = dev_score(results)
        return {} if score is None else {self.name: score}


class MultiTask:
    """A MultiProblem's schedule during training; see the module docstring."""

    def __init__(self, problem, hparams, data_dir):
        self.problem = problem
        self.names = list(problem.task_names)
        sizes = problem.task_sizes(data_dir)
        self.schedule = TaskSchedule.from_hparams(hparams, sizes, names=self.names)
        # "batch", "example" (tasks mixed in a batch) or "auto" (until check_model)
        self.mixing = mixing_mode(hparams.multiproblem_mixing)
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
        """Resolves `multiproblem_mixing` for `model` and returns it ("batch" or
        "example"): a model with a target head per task picks one head per batch, so it
        needs one task per batch."""
        heads = getattr(model, "num_heads", 1) if hasattr(model, "task_is_class_label") else 1
        if self.mixing == MIX_EXAMPLE and heads > 1:
            raise UserError(f"this {model.name} has {heads} target heads and picks "
                            "one per batch, so tasks cannot be mixed within a batch: drop "
                            "multiproblem_mixing=example, or train tasks that share one head.")
        if self.mixing == MIX_AUTO:
            self.mixing = MIX_BATCH if heads > 1 else MIX_EXAMPLE
            logging.info("Task mixing: %s (multiproblem_mixing=auto; %s).", self.mixing,
                         f"{model.name} has a target head per task, chosen per batch"
                         if heads > 1 else "one output layer for every task, so each batch "
                         "mixes the tasks")
        return self.mixing

    @property
    def weights_examples(self):
        """Whether the loss weights can differ from 1 (adaptive_implicit)."""
        return self.schedule.schedule == "adaptive_implicit"

    def with_loss_weights(self, features):
        """`features` plus EXAMPLE_WEIGHTS: each example's task's loss multiplier (1
        unless the schedule is adaptive_implicit), which the model's training_loss
        applies."""
        task = tf.cast(tf.reshape(features["task_id"], [-1]), tf.int32)
        return {**features, EXAMPLE_WEIGHTS: tf.gather(self.loss_weights, task)}

    def eval_plan(self):
        """[(task name, task index, the task's metric names)], in task order."""
        return [(name, i, set(self.problem.task_eval_metrics(i)))
                for i, name in enumerate(self.names)]

    @staticmethod
    def score(task_results):
        """A task's dev score for the adaptive schedules (see the module docstring)."""
        score = dev_score(task_results)
        return 0.0 if score is None else score

    def dev_scores(self, results):
        """{task: dev score} of flat eval `results` ({"TASK/metric": value})."""
        scores = {}
        for name in self.names:
            score = dev_score({k[len(name) + 1:]: v for k, v in results.items()
                               if k.startswith(name + "/")})
            if score is not None:
                scores[name] = score
        return scores

    def after_eval(self, per_task_results, step):
        """Feeds the tasks' dev scores to the schedule and applies its new mixture; returns
        {summary name: value} of the probabilities (and loss weights) now in use."""
        scores = [self.score(per_task_results[name]) for name in self.names]
        self.schedule.update(scores)
        self.apply(step)
        logging.info("Task scores at step %d: %s; %s%s", step,
                     ", ".join(f"{n} {s:.4f}" for n, s in zip(self.names, scores)),
                     self._describe_variables(),
                     f" ({self.schedule.reason})" if self.schedule.reason else "")
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

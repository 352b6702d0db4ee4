"""Multi-task sampling schedules: which problem each training batch comes from.

When one model trains on N problems (tasks), every batch is drawn from task i with
probability p_i. This module computes p (a float64 numpy vector that sums to 1) and, for
the implicit adaptive schedule, per-task loss multipliers. It is pure numpy, so the
trainer (or a python-side sampler) can call it between steps.

Schedules (the value of `multiproblem_schedule`):
  uniform            p_i = 1 / N
  proportional       p_i = n_i / sum_j n_j (n_i: the size of task i's training set)
  temperature        p_i ∝ n_i^(1/T): T=1 is proportional, T -> inf is uniform
                     (Arivazhagan et al., 2019, "Massively Multilingual Neural Machine
                     Translation in the Wild", arXiv:1907.05019; fairseq's
                     --sampling-method=temperature)
  constant           T2T's MultiProblem mixing: task 0 (the primary task) gets
                     `threshold`, the other tasks share 1 - threshold equally
  exponential        task 0 starts at 1 and decays towards `threshold` (formula in `mixing`)
  pretrain           only task 0 for the first threshold * max_steps steps, then uniform
  adaptive           Jean, Firat & Johnson, 2019, "Adaptive Scheduling for Multi-Task
                     Learning", arXiv:1909.06434: over-samples the tasks whose dev score
                     is furthest below a per-task baseline (see `adaptive_weights`)
  adaptive_implicit  the same paper's implicit variant: the data mixture stays the
                     warm-up one and each task's loss is scaled instead
                     (see `implicit_loss_weights`)

Hparams that `TaskSchedule.from_hparams` reads (basic_params1 defines each; its value shown):
  multiproblem_schedule               str, "proportional"
  multiproblem_temperature            float, 5.0 (temperature)
  multiproblem_schedule_threshold     float in [0, 1], 0.5 (constant, exponential, pretrain)
  multiproblem_schedule_max_steps     int, 0 = unset (exponential, pretrain). Counted in
                                      training steps, the `step` given to
                                      `probabilities`; T2T's max_examples counted examples.
  multiproblem_adaptive_alpha         float >= 0, 1.0 (adaptive*)
  multiproblem_adaptive_kind          "inverse" | "simple", "inverse" (adaptive*)
  multiproblem_adaptive_eps           float > 0, 0.01 (adaptive*)
  multiproblem_adaptive_baselines     list of floats > 0, one per task (adaptive*; required)
  multiproblem_adaptive_warmup        "temperature" | "proportional", "temperature"
                                      (adaptive*: the mixture before adaptive weighting
                                      starts; adaptive_implicit samples it throughout)
  multiproblem_adaptive_floor         float in [0, 1], 0.2 (adaptive*)
  multiproblem_adaptive_smoothing     float in [0, 1), 0.5 (adaptive*)

Adaptive schedules are unstable while the scores are near zero: r_i = s_i / b_i is then
mostly noise, eps dominates the weights and the mixture swings from one evaluation to the
next. So they start with a warm-up: they sample the warm-up mixture (temperature with
`multiproblem_temperature`, or proportional) until the first evaluation at which every
task's smoothed score has reached `floor` times its baseline, and weight adaptively from
then on (floor 0: from the first evaluation). The scores they use are an exponential
moving average of the dev scores, s <- smoothing * s + (1 - smoothing) * new (the first
score taken as it is; smoothing 0: the latest score alone). After each `update` the
attribute `reason` says in one line what the schedule did and why. The warm-up state and
the average are not checkpointed: a resumed run keeps the mixture it had reached and
starts them again at its next evaluation.
"""
import math
import numbers

import numpy as np

from t2tlike.errors import UserError, did_you_mean

SCHEDULES = ("uniform", "proportional", "temperature", "constant", "exponential",
             "pretrain", "adaptive", "adaptive_implicit")
MIXING_SCHEDULES = ("constant", "exponential", "pretrain")
ADAPTIVE_KINDS = ("inverse", "simple")
WARMUP_MIXTURES = ("temperature", "proportional")

# Arivazhagan et al. (2019) found T=5 the best trade-off between high- and low-resource
# pairs (they compare T=1, 5, 100). fairseq's --sampling-temperature defaults to 1.5
# (fairseq/data/multilingual/sampling_method.py), closer to proportional.
DEFAULT_TEMPERATURE = 5.0
# T2T's multiproblem_schedule_threshold default.
DEFAULT_THRESHOLD = 0.5
# Ours, not the paper's value (it adds a small eps without reporting it). 0.01 caps the
# ratio between the weights of the worst and a fully-recovered task near 100 for both kinds
# (inverse: 1/eps vs 1/(1+eps); simple: 1+eps vs eps), so no task is starved completely
# and none takes the whole batch.
DEFAULT_EPS = 0.01
DEFAULT_ALPHA = 1.0
# Ours. With BLEU scores, 0.2 of a baseline of 15 is 3 BLEU: below it, greedy BLEU on a few
# hundred dev sentences moves by about as much as its value from one evaluation to the
# next. The smoothing halves the weight of each older score.
DEFAULT_FLOOR = 0.2
DEFAULT_SMOOTHING = 0.5
# Ours, not T2T's formula: the decay rate of the exponential schedule. After max_steps,
# task 0 has moved 1 - exp(-5) (99.3%) of the way from 1 to `threshold`.
EXPONENTIAL_RATE = 5.0


def _sizes(sizes):
    n = np.asarray(sizes, dtype=np.float64)
    if n.ndim != 1 or n.size == 0:
        raise UserError(f"multi-task training needs a list of at least one dataset size, "
                        f"got {sizes!r}.")
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise UserError(f"every task needs a positive number of training examples, got sizes "
                        f"{list(sizes)}. Generate the missing data (t2t-datagen) or drop the "
                        "empty task.")
    return n


def _normalize(w):
    return w / w.sum()


def uniform(num_tasks):
    """p_i = 1 / num_tasks."""
    if int(num_tasks) < 1:
        raise UserError(f"num_tasks must be at least 1, got {num_tasks}.")
    return np.full(int(num_tasks), 1.0 / int(num_tasks))


def proportional(sizes):
    """p_i = n_i / sum_j n_j, for dataset sizes n_i > 0."""
    return _normalize(_sizes(sizes))


def temperature(sizes, temperature):
    """p_i ∝ n_i^(1/T) (Arivazhagan et al., 2019, arXiv:1907.05019; fairseq's temperature
    sampling). T=1 is `proportional`, T -> inf tends to `uniform`; T must be > 0.

    Computed in log space (a softmax of log(n_i) / T), so small T cannot overflow.
    """
    n = _sizes(sizes)
    t = float(temperature)
    if not (t > 0 and math.isfinite(t)):
        raise UserError(f"multiproblem_temperature must be a finite number > 0, got "
                        f"{temperature!r}. T=1 samples proportionally to dataset sizes, larger "
                        "T flattens towards uniform; set e.g. "
                        f"--hparams=multiproblem_temperature={DEFAULT_TEMPERATURE}.")
    logits = np.log(n) / t
    return _normalize(np.exp(logits - logits.max()))


_temperature = temperature   # TaskSchedule's `temperature` argument shadows the function


def _primary_and_rest(p0, num_tasks):
    """Task 0 gets p0, the other tasks share 1 - p0 equally."""
    if num_tasks == 1:
        return np.ones(1)
    return np.concatenate([[p0], np.full(num_tasks - 1, (1.0 - p0) / (num_tasks - 1))])


def mixing(schedule, step, num_tasks, threshold=DEFAULT_THRESHOLD, max_steps=0):
    """T2T's MultiProblem mixing schedules: task 0 (primary / pretraining task) vs the rest.

    With p_0 the probability of task 0 at `step` (the others always share 1 - p_0 equally):
      constant     p_0 = threshold
      exponential  p_0 = threshold + (1 - threshold) * exp(-5 * step / max_steps)
                   (ours, not T2T's exact formula): 1 at step 0, 99.3% of the way to
                   `threshold` at max_steps, and still decaying after it.
      pretrain     p = [1, 0, ..., 0] while step < threshold * max_steps, then uniform
                   over all tasks (task 0 included).
    With a single task, p = [1.0] whatever the schedule.
    """
    if schedule not in MIXING_SCHEDULES:
        raise UserError(f"unknown mixing schedule {schedule!r}."
                        f"{did_you_mean(str(schedule), MIXING_SCHEDULES)} Known: "
                        f"{', '.join(MIXING_SCHEDULES)}.")
    num_tasks = int(num_tasks)
    if num_tasks < 1:
        raise UserError(f"num_tasks must be at least 1, got {num_tasks}.")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}.")
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise UserError(f"multiproblem_schedule_threshold must be in [0, 1] for the {schedule!r} "
                        f"schedule, got {threshold}; it is the share of task 0, e.g. "
                        f"--hparams=multiproblem_schedule_threshold={DEFAULT_THRESHOLD}.")
    if schedule != "constant" and not (isinstance(max_steps, numbers.Real) and max_steps > 0):
        raise UserError(f"the {schedule!r} schedule needs multiproblem_schedule_max_steps > 0 "
                        f"(the length of its decay or pretraining phase), got {max_steps!r}; set "
                        "e.g. --hparams=multiproblem_schedule_max_steps=20000.")
    if schedule == "constant":
        return _primary_and_rest(threshold, num_tasks)
    if schedule == "exponential":
        p0 = threshold + (1.0 - threshold) * math.exp(-EXPONENTIAL_RATE * step / max_steps)
        return _primary_and_rest(p0, num_tasks)
    if step < threshold * max_steps:   # pretrain
        return _primary_and_rest(1.0, num_tasks)
    return uniform(num_tasks)


def adaptive_weights(scores, baselines, alpha=DEFAULT_ALPHA, eps=DEFAULT_EPS, kind="inverse"):
    """Explicit adaptive schedule (Jean, Firat & Johnson, 2019, arXiv:1909.06434).

    For task i with latest dev score s_i (higher is better, e.g. BLEU) and baseline b_i > 0
    (e.g. its single-task score): r_i = min(1, s_i / b_i), clipped at 0 for a negative
    score. Then
      inverse  w_i = 1 / (r_i^alpha + eps)
      simple   w_i = 1 + eps - r_i^alpha
    and p_i = w_i / sum_j w_j: tasks far below their baseline are sampled more, and a task
    at or above it keeps a small share. alpha >= 0 sharpens (> 1) or flattens (< 1) it.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores must be a non-empty list, one per task; got {scores!r}.")
    try:   # None (an absent baseline) becomes NaN, which fails the `b > 0` check below
        b = np.array([np.nan if v is None else v for v in baselines], dtype=np.float64)
    except (TypeError, ValueError):
        b = np.array([])
    if b.shape != s.shape or not np.all(b > 0):
        raise UserError(f"multiproblem_adaptive_baselines needs one positive score per task "
                        f"({s.size} tasks), e.g. each task's single-task dev BLEU; got "
                        f"{baselines!r}. Set e.g. --hparams=multiproblem_adaptive_baselines="
                        f"[{','.join(['30.0'] * s.size)}].")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"dev scores must be finite numbers, got {list(scores)}.")
    alpha, eps = float(alpha), float(eps)
    if not (alpha >= 0 and math.isfinite(alpha)):
        raise UserError(f"multiproblem_adaptive_alpha must be a finite number >= 0, got {alpha}; "
                        f"set e.g. --hparams=multiproblem_adaptive_alpha={DEFAULT_ALPHA}.")
    if not (eps > 0 and math.isfinite(eps)):
        raise UserError(f"multiproblem_adaptive_eps must be a finite number > 0, got {eps}; "
                        f"set e.g. --hparams=multiproblem_adaptive_eps={DEFAULT_EPS}.")
    r = np.clip(s / b, 0.0, 1.0) ** alpha
    if kind == "inverse":
        w = 1.0 / (r + eps)
    elif kind == "simple":
        w = 1.0 + eps - r
    else:
        raise UserError(f"unknown multiproblem_adaptive_kind {kind!r}."
                        f"{did_you_mean(str(kind), ADAPTIVE_KINDS)} Expected one of "
                        f"{', '.join(ADAPTIVE_KINDS)}; set e.g. "
                        "--hparams=multiproblem_adaptive_kind=inverse.")
    return _normalize(w)


def implicit_loss_weights(p_adaptive, q_mixture):
    """Implicit adaptive schedule (Jean, Firat & Johnson, 2019, arXiv:1909.06434): keep
    sampling from the fixed mixture q and multiply task i's loss by w_i = p_i / q_i,
    normalized so that sum_i q_i * w_i = 1 (the expected loss scale is unchanged). In
    expectation the gradient then matches sampling from p."""
    p = np.asarray(p_adaptive, dtype=np.float64)
    q = np.asarray(q_mixture, dtype=np.float64)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"p_adaptive and q_mixture must be 1-D and of equal length, got "
                         f"shapes {p.shape} and {q.shape}.")
    if np.any(q <= 0) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"q_mixture must be > 0 and p_adaptive >= 0 (not all 0); got "
                         f"p={p.tolist()}, q={q.tolist()}.")
    w = p / q
    return w / np.dot(q, w)


def sample_task(probabilities, rng):
    """The index of one task drawn from `probabilities` with `rng` (np.random.Generator)."""
    p = np.asarray(probabilities, dtype=np.float64)
    return int(rng.choice(p.size, p=p))


class TaskSchedule:
    """The sampling probabilities (and loss multipliers) of one multi-task run.

    Build it from hparams with `TaskSchedule.from_hparams(hp, sizes, names)`; call
    `probabilities(step)` when drawing batches, `update(scores)` after each evaluation and
    `loss_weights()` when combining the per-task losses.
    """

    def __init__(self, sizes, schedule="proportional", names=None,
                 temperature=DEFAULT_TEMPERATURE, threshold=DEFAULT_THRESHOLD, max_steps=0,
                 alpha=DEFAULT_ALPHA, kind="inverse", eps=DEFAULT_EPS, baselines=None,
                 warmup="temperature", floor=DEFAULT_FLOOR, smoothing=DEFAULT_SMOOTHING):
        if schedule not in SCHEDULES:
            raise UserError(f"unknown multiproblem_schedule {schedule!r}."
                            f"{did_you_mean(str(schedule), SCHEDULES)} Known schedules: "
                            f"{', '.join(SCHEDULES)}; set e.g. "
                            "--hparams=multiproblem_schedule=temperature.")
        self.sizes = _sizes(sizes)
        self.schedule = schedule
        self.names = list(names) if names is not None else [
            f"task{i}" for i in range(self.sizes.size)]
        if len(self.names) != self.sizes.size:
            raise ValueError(f"{len(self.names)} task names for {self.sizes.size} tasks.")
        self.temperature, self.threshold, self.max_steps = temperature, threshold, max_steps
        self.alpha, self.kind, self.eps = alpha, kind, eps
        self.baselines = baselines
        self.warmup, self.floor, self.smoothing = warmup, floor, smoothing
        self.scores = None      # the latest dev scores
        self.smoothed = None    # their moving average (adaptive schedules)
        self.adapting = False   # whether the adaptive warm-up is over
        self.reason = ""        # what the last `update` did, and why
        self._step = 0
        # The fixed part of the schedule (adaptive ones: the warm-up mixture).
        self._mixture = proportional(self.sizes)
        if schedule == "uniform":
            self._mixture = uniform(self.sizes.size)
        elif schedule == "temperature":
            self._mixture = _temperature(self.sizes, temperature)
        elif schedule in MIXING_SCHEDULES:
            mixing(schedule, 0, self.sizes.size, threshold, max_steps)   # validates now
        elif self.is_adaptive:
            # Checks baselines, alpha, eps and kind now rather than at the first evaluation.
            adaptive_weights(np.zeros(self.sizes.size), baselines, alpha, eps, kind)
            self._check_warmup()
            if warmup == "temperature":
                self._mixture = _temperature(self.sizes, temperature)
        self._adaptive_p = self._mixture

    def _check_warmup(self):
        if self.warmup not in WARMUP_MIXTURES:
            raise UserError(f"unknown multiproblem_adaptive_warmup {self.warmup!r}."
                            f"{did_you_mean(str(self.warmup), WARMUP_MIXTURES)} Expected one "
                            f"of {', '.join(WARMUP_MIXTURES)}: the mixture sampled before "
                            "adaptive weighting starts.")
        if not (isinstance(self.floor, numbers.Real) and 0.0 <= self.floor <= 1.0):
            raise UserError(f"multiproblem_adaptive_floor must be in [0, 1], got "
                            f"{self.floor!r}: the share of its baseline every task's score "
                            "must reach before adaptive weighting starts (0: at once); set "
                            f"e.g. --hparams=multiproblem_adaptive_floor={DEFAULT_FLOOR}.")
        if not (isinstance(self.smoothing, numbers.Real) and 0.0 <= self.smoothing < 1.0):
            raise UserError(f"multiproblem_adaptive_smoothing must be in [0, 1), got "
                            f"{self.smoothing!r}: the weight of the older scores in their "
                            "moving average (0: the latest score alone); set e.g. "
                            f"--hparams=multiproblem_adaptive_smoothing={DEFAULT_SMOOTHING}.")

    @classmethod
    def from_hparams(cls, hp, sizes, names=None):
        """The schedule the `multiproblem_*` hparams describe (basic_params1 defines them)."""
        return cls(
            sizes, schedule=hp.multiproblem_schedule, names=names,
            temperature=hp.multiproblem_temperature,
            threshold=hp.multiproblem_schedule_threshold,
            max_steps=hp.multiproblem_schedule_max_steps,
            alpha=hp.multiproblem_adaptive_alpha, kind=hp.multiproblem_adaptive_kind,
            eps=hp.multiproblem_adaptive_eps,
            baselines=hp.multiproblem_adaptive_baselines or None,
            warmup=hp.multiproblem_adaptive_warmup, floor=hp.multiproblem_adaptive_floor,
            smoothing=hp.multiproblem_adaptive_smoothing)

    @property
    def is_adaptive(self):
        return self.schedule in ("adaptive", "adaptive_implicit")

    def probabilities(self, step=0):
        """The sampling probabilities at training step `step`, shape [num_tasks]."""
        self._step = step
        if self.schedule in MIXING_SCHEDULES:
            return mixing(self.schedule, step, self.sizes.size, self.threshold, self.max_steps)
        if self.schedule == "adaptive":
            return self._adaptive_p.copy()
        return self._mixture.copy()

    def loss_weights(self):
        """Per-task loss multipliers, shape [num_tasks]: ones except for adaptive_implicit."""
        if self.schedule == "adaptive_implicit":
            return implicit_loss_weights(self._adaptive_p, self._mixture)
        return np.ones(self.sizes.size)

    def update(self, scores):
        """Takes the latest dev score of each task (higher is better) and returns the
        sampling probabilities from now on (at the last step seen, for step-dependent
        schedules). Only the adaptive schedules change."""
        scores = [float(s) for s in scores]
        if len(scores) != self.sizes.size:
            raise ValueError(f"update() needs one score per task ({self.sizes.size}), "
                             f"got {len(scores)}: {scores}.")
        self.scores = scores
        if self.is_adaptive:
            self._adapt(np.asarray(scores, dtype=np.float64))
        return self.probabilities(self._step)

    def _adapt(self, scores):
        """Smooths the scores, ends the warm-up when they clear the floor, re-weights."""
        a = self.smoothing
        self.smoothed = scores if self.smoothed is None else a * self.smoothed + (1 - a) * scores
        floors = self.floor * np.asarray(self.baselines, dtype=np.float64)
        below = [i for i in range(self.sizes.size) if self.smoothed[i] < floors[i]]
        started = ""
        if not self.adapting:
            if below:
                self.reason = (f"warm-up, keeping the {self.warmup} mixture: " + ", ".join(
                    f"{self.names[i]}'s smoothed score {self.smoothed[i]:.3g} is below "
                    f"{self.floor:g} x its baseline = {floors[i]:.3g}" for i in below))
                return
            self.adapting = True
            started = (f"warm-up over (every smoothed score reached {self.floor:g} x its "
                       "baseline); ")
        before = self._adaptive_p
        self._adaptive_p = adaptive_weights(self.smoothed, self.baselines, self.alpha,
                                            self.eps, self.kind)
        ratios = np.clip(self.smoothed / np.asarray(self.baselines, dtype=np.float64), 0, 1)
        lagging = int(np.argmin(ratios))
        self.reason = (started + "smoothed score / baseline: " + ", ".join(
            f"{n} {r:.2f}" for n, r in zip(self.names, ratios)) + f"; {self.names[lagging]} "
            f"lags most: its adaptive share {before[lagging]:.2f} -> "
            f"{self._adaptive_p[lagging]:.2f}")

    def describe(self):
        """One line, e.g. 'task probs: ende_small 0.62, enfr 0.38' (at the last step seen)."""
        def fmt(values):
            return ", ".join(f"{n} {v:.2f}" for n, v in zip(self.names, values))
        text = f"task probs: {fmt(self.probabilities(self._step))}"
        if self.schedule == "adaptive_implicit":
            text += f"; loss weights: {fmt(self.loss_weights())}"
        return text


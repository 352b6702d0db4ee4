import math
import subprocess
import sys

import numpy as np
import pytest

from t2tlike.errors import UserError
from t2tlike.models.common_hparams import basic_params1
from t2tlike.training import task_schedules as ts


def _hp(**changes):
    """basic_params1 (which defines every multiproblem_* key) with `changes`."""
    return basic_params1().replace(**changes)


def close(actual, expected, tol=1e-9):
    """`actual` is a float64 probability vector equal to `expected` (up to `tol`)."""
    assert actual.dtype == np.float64 and float(np.sum(actual)) == pytest.approx(1.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol)


def test_module_does_not_import_tensorflow():
    code = ("import sys, t2tlike.training.task_schedules; "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_uniform_and_proportional():
    close(ts.uniform(4), [0.25, 0.25, 0.25, 0.25])
    assert ts.uniform(4).dtype == np.float64
    close(ts.proportional([300, 100, 600]), [0.3, 0.1, 0.6])


def test_temperature():
    close(ts.temperature([900, 100], 2.0), [0.75, 0.25])      # ∝ [30, 10]
    close(ts.temperature([800, 100, 100], 3.0), [0.5, 0.25, 0.25])   # ∝ [2, 1, 1]
    close(ts.temperature([900, 100], 1.0), [0.9, 0.1])        # T=1 is proportional
    close(ts.temperature([900, 100], 1e9), [0.5, 0.5], tol=1e-8)   # T -> inf: uniform
    close(ts.temperature([1e9, 1e3], 0.01), [1.0, 0.0])        # tiny T does not overflow


def test_mixing_constant():
    close(ts.mixing("constant", 123, 4, threshold=0.4), [0.4, 0.2, 0.2, 0.2])
    close(ts.mixing("constant", 0, 1, threshold=0.4), [1.0])   # one task takes everything


def test_mixing_exponential():
    close(ts.mixing("exponential", 0, 3, threshold=0.2, max_steps=1000), [1.0, 0.0, 0.0])
    p0 = 0.2 + 0.8 * math.exp(-1.0)              # step 200 = max_steps / 5
    close(ts.mixing("exponential", 200, 3, threshold=0.2, max_steps=1000),
          [p0, (1 - p0) / 2, (1 - p0) / 2])
    p0 = 0.2 + 0.8 * math.exp(-5.0)              # at max_steps, 99.3% of the way
    close(ts.mixing("exponential", 1000, 3, threshold=0.2, max_steps=1000),
          [p0, (1 - p0) / 2, (1 - p0) / 2])


def test_mixing_pretrain():
    close(ts.mixing("pretrain", 249, 2, threshold=0.25, max_steps=1000), [1.0, 0.0])
    close(ts.mixing("pretrain", 250, 2, threshold=0.25, max_steps=1000), [0.5, 0.5])
    close(ts.mixing("pretrain", 0, 4, threshold=0.0, max_steps=10), [0.25] * 4)


def test_adaptive_inverse_and_simple_by_hand():
    scores, baselines = [0.0, 10.0, 30.0], [20.0, 20.0, 20.0]   # r = [0, 0.5, 1 (clipped)]
    # inverse: w = 1 / (r + 0.5) = [2, 1, 2/3], sum 11/3
    close(ts.adaptive_weights(scores, baselines, alpha=1.0, eps=0.5, kind="inverse"),
          [6 / 11, 3 / 11, 2 / 11])
    # simple: w = 1.5 - r = [1.5, 1, 0.5], sum 3
    close(ts.adaptive_weights(scores, baselines, alpha=1.0, eps=0.5, kind="simple"),
          [0.5, 1 / 3, 1 / 6])


def test_adaptive_alpha_and_default_eps():
    assert ts.DEFAULT_EPS == 0.01
    # r = [0.5, 0.75, 1], r^2 = [0.25, 0.5625, 1]
    w = np.array([1 / 0.26, 1 / 0.5725, 1 / 1.01])
    close(ts.adaptive_weights([10, 15, 20], [20, 20, 20], alpha=2.0), w / w.sum())
    w = np.array([1.01 - 0.25, 1.01 - 0.5625, 1.01 - 1.0])
    close(ts.adaptive_weights([10, 15, 20], [20, 20, 20], alpha=2.0, kind="simple"),
          w / w.sum())


def test_adaptive_clips_ratio_to_zero_and_one():
    # A score above its baseline counts as r = 1: both tasks are "done", so equal.
    close(ts.adaptive_weights([40.0, 20.0], [20.0, 20.0]), [0.5, 0.5])
    # A negative score counts as r = 0: w = [1.5, 0.5].
    close(ts.adaptive_weights([-5.0, 10.0], [10.0, 10.0], eps=0.5, kind="simple"),
          [0.75, 0.25])


@pytest.mark.parametrize("baselines", [[20.0, 0.0], [20.0, -1.0], [20.0, None], None,
                                       [20.0], "abc"])
def test_adaptive_rejects_bad_baselines(baselines):
    with pytest.raises(UserError, match=r"multiproblem_adaptive_baselines needs one positive"
                                        r".*--hparams=multiproblem_adaptive_baselines=\["):
        ts.adaptive_weights([10.0, 10.0], baselines)


def test_adaptive_rejects_bad_kind_alpha_eps():
    with pytest.raises(UserError, match="Did you mean: inverse"):
        ts.adaptive_weights([1.0], [2.0], kind="invrse")
    with pytest.raises(UserError, match="multiproblem_adaptive_eps"):
        ts.adaptive_weights([1.0], [2.0], eps=0.0)
    with pytest.raises(UserError, match="multiproblem_adaptive_alpha"):
        ts.adaptive_weights([1.0], [2.0], alpha=-1.0)


def test_implicit_loss_weights():
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.25, 0.25, 0.5])
    w = ts.implicit_loss_weights(p, q)
    np.testing.assert_allclose(w, [2.0, 1.2, 0.4])            # p / q, already normalised
    assert np.dot(q, w) == pytest.approx(1.0)
    # Unnormalised p: w ∝ p / q = [2, 6], scaled so that sum q w = 1 -> [0.5, 1.5].
    w = ts.implicit_loss_weights([1.0, 3.0], [0.5, 0.5])
    np.testing.assert_allclose(w, [0.5, 1.5])
    assert np.dot([0.5, 0.5], w) == pytest.approx(1.0)
    np.testing.assert_allclose(ts.implicit_loss_weights([0.2, 0.8], [0.2, 0.8]), [1.0, 1.0])


def test_fixed_schedule_ignores_update():
    hp = _hp(multiproblem_schedule="temperature", multiproblem_temperature=2.0)
    s = ts.TaskSchedule.from_hparams(hp, [900, 100])
    close(s.probabilities(0), [0.75, 0.25])
    close(s.update([10.0, 30.0]), [0.75, 0.25])
    close(s.probabilities(5000), [0.75, 0.25])
    np.testing.assert_array_equal(s.loss_weights(), [1.0, 1.0])


def test_step_dependent_schedule_through_task_schedule():
    hp = _hp(multiproblem_schedule="pretrain", multiproblem_schedule_threshold=0.5,
             multiproblem_schedule_max_steps=100)
    s = ts.TaskSchedule.from_hparams(hp, [10, 10, 10], names=["lm", "a", "b"])
    close(s.probabilities(49), [1.0, 0.0, 0.0])
    close(s.update([1.0, 2.0, 3.0]), [1.0, 0.0, 0.0])          # at the last step seen
    close(s.probabilities(50), [1 / 3] * 3)
    assert s.describe() == "task probs: lm 0.33, a 0.33, b 0.33"


# the adaptive schedules of Jean et al. as the paper has them: no warm-up, no smoothing
NO_WARMUP = dict(multiproblem_adaptive_warmup="proportional", multiproblem_adaptive_floor=0.0,
                 multiproblem_adaptive_smoothing=0.0)


def test_adaptive_schedule_starts_proportional_then_follows_scores():
    hp = _hp(multiproblem_schedule="adaptive", multiproblem_adaptive_kind="simple",
             multiproblem_adaptive_eps=0.5, multiproblem_adaptive_baselines=[20.0, 20.0],
             **NO_WARMUP)
    s = ts.TaskSchedule.from_hparams(hp, [100, 300], names=["low", "high"])
    close(s.probabilities(0), [0.25, 0.75])                    # before any evaluation
    close(s.update([0.0, 20.0]), [0.75, 0.25])                 # r = [0, 1]: w = [1.5, 0.5]
    close(s.probabilities(1000), [0.75, 0.25])
    np.testing.assert_array_equal(s.loss_weights(), [1.0, 1.0])
    assert s.describe() == "task probs: low 0.75, high 0.25"
    close(s.update([20.0, 20.0]), [0.5, 0.5])


def test_adaptive_implicit_keeps_mixture_and_scales_losses():
    hp = _hp(multiproblem_schedule="adaptive_implicit", multiproblem_adaptive_kind="simple",
             multiproblem_adaptive_eps=0.5, multiproblem_adaptive_baselines=[20.0, 20.0],
             **NO_WARMUP)
    s = ts.TaskSchedule.from_hparams(hp, [100, 300], names=["low", "high"])
    np.testing.assert_allclose(s.loss_weights(), [1.0, 1.0])
    close(s.update([0.0, 20.0]), [0.25, 0.75])                 # the data mixture q stays
    w = s.loss_weights()                                       # p / q = [0.75/0.25, 0.25/0.75]
    np.testing.assert_allclose(w, [3.0, 1 / 3])
    assert np.dot([0.25, 0.75], w) == pytest.approx(1.0)
    assert s.describe() == "task probs: low 0.25, high 0.75; loss weights: low 3.00, high 0.33"


def test_adaptive_warmup_lasts_until_every_smoothed_score_clears_the_floor():
    hp = _hp(multiproblem_schedule="adaptive", multiproblem_adaptive_baselines=[20.0, 30.0],
             multiproblem_temperature=2.0)   # defaults: temperature warm-up, 0.2, 0.5
    s = ts.TaskSchedule.from_hparams(hp, [100, 400], names=["low", "high"])
    warmup = ts.temperature([100, 400], 2.0)                   # [1/3, 2/3]
    close(s.probabilities(0), warmup)
    close(s.update([1.0, 25.0]), warmup)                        # low: 1 < 0.2 * 20
    assert s.reason == ("warm-up, keeping the temperature mixture: low's smoothed score 1 "
                        "is below 0.2 x its baseline = 4")
    close(s.update([5.0, 25.0]), warmup)                        # smoothed: 0.5*1 + 0.5*5 = 3
    close(s.update([6.0, 27.0]), ts.adaptive_weights([4.5, 26.0], [20.0, 30.0]))
    assert s.adapting and s.reason.startswith("warm-up over")
    assert "smoothed score / baseline: low 0.23, high 0.87; low lags most" in s.reason
    close(s.update([0.0, 27.0]), ts.adaptive_weights([2.25, 26.5], [20.0, 30.0]))
    assert not s.reason.startswith("warm-up")                   # it does not come back


def test_adaptive_implicit_samples_the_warmup_mixture_throughout():
    hp = _hp(multiproblem_schedule="adaptive_implicit", multiproblem_adaptive_floor=0.0,
             multiproblem_adaptive_baselines=[20.0, 30.0], multiproblem_temperature=2.0)
    s = ts.TaskSchedule.from_hparams(hp, [100, 400])
    q = ts.temperature([100, 400], 2.0)
    close(s.update([2.0, 30.0]), q)
    np.testing.assert_allclose(s.loss_weights(), ts.implicit_loss_weights(
        ts.adaptive_weights([2.0, 30.0], [20.0, 30.0]), q))


def _mixture_travel(schedule, scores):
    """The total variation the mixture travels over a stream of dev scores:
    sum over updates of 0.5 * |p_t - p_(t-1)|_1, from the mixture before the first."""
    p, travel = schedule.probabilities(0), 0.0
    for row in scores:
        q = schedule.update(row)
        travel += 0.5 * float(np.abs(q - p).sum())
        p = q
    return travel


def test_warmup_and_smoothing_steady_the_mixture_on_noisy_scores():
    """Dev BLEU of two tasks rising towards their baselines (15 and 30) over 20 evaluations,
    plus noise of 1 BLEU (the greedy BLEU of a few hundred dev sentences): with the
    warm-up and the smoothing the mixture travels less than half as far as with the
    paper's schedule, which reacts to every evaluation from the first."""
    rng = np.random.default_rng(0)
    t = np.arange(1, 21)[:, None] / 20.0
    scores = np.clip(np.array([15.0, 30.0]) * (1 - np.exp(-3 * t)) +
                     rng.normal(0.0, 1.0, (20, 2)), 0.0, None)
    common = dict(multiproblem_schedule="adaptive", multiproblem_adaptive_baselines=[15.0, 30.0])
    raw = _mixture_travel(ts.TaskSchedule.from_hparams(_hp(**common, **NO_WARMUP),
                                                       [2900, 29000]), scores)
    steady = _mixture_travel(ts.TaskSchedule.from_hparams(_hp(**common), [2900, 29000]), scores)
    assert steady < 0.5 * raw, (steady, raw)


def test_describe_default_schedule_and_names():
    s = ts.TaskSchedule.from_hparams(_hp(), [62, 38], names=["ende_small", "enfr"])
    assert s.schedule == "proportional"
    assert s.describe() == "task probs: ende_small 0.62, enfr 0.38"
    assert ts.TaskSchedule([1, 3]).describe() == "task probs: task0 0.25, task1 0.75"


@pytest.mark.parametrize("hp, match", [
    (dict(multiproblem_schedule="temprature"),
     r"unknown multiproblem_schedule 'temprature'\. Did you mean: temperature\?.*"
     r"--hparams=multiproblem_schedule=temperature"),
    (dict(multiproblem_schedule="temperature", multiproblem_temperature=0.0),
     r"multiproblem_temperature must be a finite number > 0, got 0\.0.*"
     r"--hparams=multiproblem_temperature=5\.0"),
    (dict(multiproblem_schedule="constant", multiproblem_schedule_threshold=1.5),
     r"multiproblem_schedule_threshold must be in \[0, 1\].*got 1\.5"),
    (dict(multiproblem_schedule="exponential"),
     r"'exponential' schedule needs multiproblem_schedule_max_steps > 0.*"
     r"--hparams=multiproblem_schedule_max_steps="),
    (dict(multiproblem_schedule="adaptive"),
     r"multiproblem_adaptive_baselines needs one positive score per task \(2 tasks\)"),
    (dict(multiproblem_schedule="adaptive_implicit", multiproblem_adaptive_baselines=[1.0, 2.0],
          multiproblem_adaptive_kind="harmonic"),
     r"unknown multiproblem_adaptive_kind 'harmonic'.*inverse, simple"),
    (dict(multiproblem_schedule="adaptive", multiproblem_adaptive_baselines=[1.0, 2.0],
          multiproblem_adaptive_warmup="uniform"),
     r"unknown multiproblem_adaptive_warmup 'uniform'.*temperature, proportional"),
    (dict(multiproblem_schedule="adaptive", multiproblem_adaptive_baselines=[1.0, 2.0],
          multiproblem_adaptive_floor=1.5),
     r"multiproblem_adaptive_floor must be in \[0, 1\], got 1\.5"),
    (dict(multiproblem_schedule="adaptive", multiproblem_adaptive_baselines=[1.0, 2.0],
          multiproblem_adaptive_smoothing=1.0),
     r"multiproblem_adaptive_smoothing must be in \[0, 1\), got 1\.0"),
])
def test_bad_configs_raise_one_clear_user_error(hp, match):
    with pytest.raises(UserError, match=match):
        ts.TaskSchedule.from_hparams(_hp(**hp), [10, 20])


def test_unused_hparams_are_not_validated():
    hp = _hp(multiproblem_schedule="uniform", multiproblem_temperature=-1.0)
    close(ts.TaskSchedule.from_hparams(hp, [10, 20]).probabilities(0), [0.5, 0.5])


def test_bad_sizes_raise_user_error():
    with pytest.raises(UserError, match=r"positive number of training examples.*\[10, 0\]"):
        ts.proportional([10, 0])
    with pytest.raises(UserError, match="at least one"):
        ts.TaskSchedule([])


def test_sample_task_frequencies_approach_p():
    p = np.array([0.7, 0.2, 0.1])
    rng = np.random.default_rng(0)
    draws = [ts.sample_task(p, rng) for _ in range(20_000)]
    assert all(isinstance(d, int) for d in draws[:10])
    freq = np.bincount(draws, minlength=3) / len(draws)
    np.testing.assert_allclose(freq, p, atol=0.02)
    again = [ts.sample_task(p, np.random.default_rng(0)) for _ in range(5)]
    assert len(set(again)) == 1                                 # same seed, same draw

"""T2T's learning-rate schedules: a product of named factors, e.g.

    constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size

The string is parsed once (unknown factors raise with a suggestion) into a Keras
LearningRateSchedule, so the optimizer evaluates it in-graph at every step.

Factors (step counts from 0; `warmup` is learning_rate_warmup_steps):
  constant               learning_rate_constant
  linear_warmup          min(1, step / warmup)
  rsqrt_decay            1 / sqrt(max(step, warmup))
  rsqrt_normalized_decay sqrt(warmup) / sqrt(max(step, warmup))
  rsqrt_hidden_size      1 / sqrt(hidden_size)
  exp_decay              decay_rate ** (max(0, step - warmup) / decay_steps)
  linear_decay           min(1, (train_steps - step) / decay_steps), never below 0
  cosdecay               0.5 * (1 + cos(pi * min(step, train_steps) / train_steps))
"""
import math

import keras
import tensorflow as tf

from t2tlike.errors import UserError, did_you_mean

FACTORS = ("constant", "linear_warmup", "rsqrt_decay", "rsqrt_normalized_decay",
           "rsqrt_hidden_size", "exp_decay", "linear_decay", "cosdecay")


def parse_factors(schedule):
    """'constant*linear_warmup' -> ['constant', 'linear_warmup'], validated."""
    factors = [f.strip() for f in schedule.split("*") if f.strip()]
    if not factors:
        raise UserError(f"learning_rate_schedule {schedule!r} is empty; expected factors joined "
                        "by '*', e.g. 'constant*linear_warmup*rsqrt_decay'.")
    for f in factors:
        if f not in FACTORS:
            raise UserError(f"unknown learning-rate factor '{f}' in learning_rate_schedule "
                            f"{schedule!r}.{did_you_mean(f, FACTORS)} Known factors: "
                            f"{', '.join(FACTORS)}.")
    return factors


class FactorSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The product of the named factors at a step; see the module docstring."""

    def __init__(self, factors, constant=1.0, warmup_steps=0, hidden_size=1, decay_steps=1,
                 decay_rate=1.0, train_steps=1):
        if isinstance(factors, str):
            factors = parse_factors(factors)
        self.factors = list(factors)
        self.constant, self.warmup_steps = float(constant), float(warmup_steps)
        self.hidden_size, self.decay_steps = float(hidden_size), float(max(decay_steps, 1))
        self.decay_rate, self.train_steps = float(decay_rate), float(max(train_steps, 1))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = max(self.warmup_steps, 1.0)
        lr = tf.constant(1.0)
        for name in self.factors:
            if name == "constant":
                lr *= self.constant
            elif name == "linear_warmup":
                lr *= tf.minimum(1.0, step / warmup)
            elif name == "rsqrt_decay":
                lr *= tf.math.rsqrt(tf.maximum(step, warmup))
            elif name == "rsqrt_normalized_decay":
                lr *= math.sqrt(warmup) * tf.math.rsqrt(tf.maximum(step, warmup))
            elif name == "rsqrt_hidden_size":
                lr *= self.hidden_size ** -0.5
            elif name == "exp_decay":
                lr *= tf.pow(self.decay_rate,
                             tf.maximum(0.0, step - self.warmup_steps) / self.decay_steps)
            elif name == "linear_decay":
                lr *= tf.clip_by_value((self.train_steps - step) / self.decay_steps, 0.0, 1.0)
            elif name == "cosdecay":
                frac = tf.minimum(step, self.train_steps) / self.train_steps
                lr *= 0.5 * (1.0 + tf.cos(math.pi * frac))
        return lr

    def get_config(self):
        return dict(factors=self.factors, constant=self.constant,
                    warmup_steps=self.warmup_steps, hidden_size=self.hidden_size,
                    decay_steps=self.decay_steps, decay_rate=self.decay_rate,
                    train_steps=self.train_steps)


def learning_rate_schedule(hparams, train_steps=1):
    """The FactorSchedule that `hparams` describe."""
    return FactorSchedule(
        hparams.learning_rate_schedule, constant=hparams.learning_rate_constant,
        warmup_steps=hparams.learning_rate_warmup_steps, hidden_size=hparams.hidden_size,
        decay_steps=hparams.learning_rate_decay_steps,
        decay_rate=hparams.learning_rate_decay_rate, train_steps=train_steps)

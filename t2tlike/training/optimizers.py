"""Optimizers by T2T name: adam, adafactor, sgd, momentum (and T2T's multistep_adam).

Values that T2T keeps in hparams (betas, epsilon, momentum, clipping) come from hparams.
Every other constructor argument of the Keras optimizer can be bound with gin, e.g.

    --gin_param="keras.optimizers.Adam.amsgrad = True"

Gradient accumulation (T2T's multistep optimizer): with
`optimizer_multistep_accumulate_steps=N` (N >= 2) any optimizer updates the weights once
every N batches, with the mean of their gradients, so the effective batch is N times
`batch_size` (Keras's `gradient_accumulation_steps`). The trainer's step counts batches, as
T2T's global step did; the learning-rate schedule counts updates (Keras's
`optimizer.iterations`), so warm-up and decay keep their meaning at any N.

Adam's update of a dense gradient is TensorFlow's fused kernel (`ResourceApplyAdam`: one
op per weight, where Keras's Adam builds some forty elementwise ops per weight, which is
slower to trace, to start and to run); it computes Keras's formula, rounding the constants
in float32. AMSGrad and sparse gradients take Keras's own update.

`apply_if_finite` applies an update only when the loss and every gradient are finite on
every replica (the trainer's guard against NaN and Inf in every precision).
"""
import dataclasses

import gin
import keras
import tensorflow as tf

from t2tlike.errors import UserError, did_you_mean


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam whose dense update is one `ResourceApplyAdam` op per weight.
    Its scalars (the step's beta powers, the learning rate, epsilon) are built once per
    update for all weights of a dtype and device, not once per weight: a dozen ops each,
    times every weight of the model, to trace and to run."""

    _scalars = None   # (dtype, device) -> the scalars, during one update of every weight

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        self._scalars = {}
        try:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._scalars = None

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        key = (dtype, variable.device)
        scalars = self._scalars.get(key) if self._scalars is not None else None
        if scalars is None:
            scalars = self._adam_scalars(dtype, learning_rate)
            if self._scalars is not None:
                self._scalars[key] = scalars
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle,
            v=self._velocities[index].handle, grad=tf.cast(gradient, dtype),
            use_locking=False, **scalars)

    def _adam_scalars(self, dtype, learning_rate):
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        return dict(beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                    lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
                    epsilon=tf.cast(self.epsilon, dtype))


Adam = gin.external_configurable(FusedAdam, name="Adam", module="keras.optimizers")
Adafactor = gin.external_configurable(keras.optimizers.Adafactor, module="keras.optimizers")
SGD = gin.external_configurable(keras.optimizers.SGD, module="keras.optimizers")

OPTIMIZERS = ("adam", "adafactor", "sgd", "momentum")
# T2T's name for Adam with gradient accumulation; here any optimizer accumulates.
ALIASES = {"multistep_adam": "adam"}


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """What the optimizer reads of the hparams, checked once (`from_hparams`)."""
    name: str = "adam"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-7
    momentum: float = 0.9
    nesterov: bool = False
    adafactor_decay_rate: float = 0.8
    weight_decay: float = 0.0
    clip_grad_norm: float = 0.0
    accumulate_steps: int = 0   # batches per weight update; 0 or 1: every batch

    @classmethod
    def from_hparams(cls, hp):
        name = ALIASES.get(hp.optimizer.lower(), hp.optimizer.lower())
        if name not in OPTIMIZERS:
            known = OPTIMIZERS + tuple(ALIASES)
            raise UserError(f"unknown optimizer '{hp.optimizer}'.{did_you_mean(name, known)} "
                            f"Known optimizers: {', '.join(known)}.")
        steps = hp.optimizer_multistep_accumulate_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise UserError(f"optimizer_multistep_accumulate_steps must be a whole number >= 0 "
                            f"(batches per weight update; 0 or 1 = every batch), got {steps!r}; "
                            "e.g. --hparams=optimizer_multistep_accumulate_steps=4.")
        return cls(name=name, adam_beta1=hp.optimizer_adam_beta1,
                   adam_beta2=hp.optimizer_adam_beta2, adam_epsilon=hp.optimizer_adam_epsilon,
                   momentum=hp.optimizer_momentum_momentum,
                   nesterov=hp.optimizer_momentum_nesterov,
                   adafactor_decay_rate=hp.optimizer_adafactor_decay_rate,
                   weight_decay=hp.weight_decay, clip_grad_norm=hp.clip_grad_norm,
                   accumulate_steps=steps)

    @property
    def batches_per_update(self):
        return max(self.accumulate_steps, 1)


def create_optimizer(config, learning_rate):
    """The Keras optimizer an OptimizerConfig describes, at `learning_rate` (a schedule)."""
    clip = {"global_clipnorm": config.clip_grad_norm} if config.clip_grad_norm > 0 else {}
    extra = {"weight_decay": config.weight_decay} if config.weight_decay > 0 else {}
    if config.accumulate_steps > 1:
        extra["gradient_accumulation_steps"] = config.accumulate_steps
    if config.name == "adam":
        return Adam(learning_rate=learning_rate, beta_1=config.adam_beta1,
                    beta_2=config.adam_beta2, epsilon=config.adam_epsilon, **clip, **extra)
    if config.name == "adafactor":
        return Adafactor(learning_rate=learning_rate,
                         beta_2_decay=-config.adafactor_decay_rate, **clip, **extra)
    if config.name == "sgd":
        return SGD(learning_rate=learning_rate, **clip, **extra)
    return SGD(learning_rate=learning_rate, momentum=config.momentum,
               nesterov=config.nesterov, **clip, **extra)


def all_finite(tensors):
    """A scalar bool: every value of every floating-point tensor or variable is finite (None
    and integer ones are skipped)."""
    checks = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors
              if t is not None and tf.as_dtype(t.dtype).is_floating]
    return tf.reduce_all(checks) if checks else tf.constant(True)


def apply_if_finite(optimizer, grads, variables, finite):
    """In a replica context: `optimizer.apply_gradients` when `finite` (this replica's
    bool) holds on every replica, of every worker, else nothing at all (no update, no
    accumulation, no iteration counted). The decision is taken in the cross-replica context,
    as Keras's LossScaleOptimizer does, since a strategy's update cannot sit in a replica's
    tf.cond; the replicas' votes are summed by the strategy (across workers too), so every
    replica takes the same branch and meets the same collectives."""
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    bad = 1.0 - tf.cast(finite, tf.float32)   # this replica's vote against the update

    def apply(pairs):
        optimizer.apply_gradients(pairs)

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        bad = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, bad)
        tf.cond(bad > 0, lambda: None, lambda: apply(pairs))
        return

    def cross_replica(strategy, pairs, bad):
        everywhere = strategy.reduce(tf.distribute.ReduceOp.SUM, bad, axis=None) == 0
        tf.cond(everywhere,
                lambda: strategy.extended.call_for_each_replica(apply, args=(pairs,)),
                lambda: None)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(pairs, bad))

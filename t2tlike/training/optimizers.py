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
"""
import gin
import keras

from t2tlike.errors import UserError, did_you_mean

Adam = gin.external_configurable(keras.optimizers.Adam, module="keras.optimizers")
Adafactor = gin.external_configurable(keras.optimizers.Adafactor, module="keras.optimizers")
SGD = gin.external_configurable(keras.optimizers.SGD, module="keras.optimizers")

OPTIMIZERS = ("adam", "adafactor", "sgd", "momentum")
# T2T's name for Adam with gradient accumulation; here any optimizer accumulates.
ALIASES = {"multistep_adam": "adam"}


def accumulate_steps(hparams):
    """optimizer_multistep_accumulate_steps as an int: 0 or 1 = update every batch."""
    value = getattr(hparams, "optimizer_multistep_accumulate_steps", 0) or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"optimizer_multistep_accumulate_steps must be a whole number >= 0 "
                        f"(batches per weight update; 0 or 1 = every batch), got {value!r}; "
                        "e.g. --hparams=optimizer_multistep_accumulate_steps=4.")
    return value


def create_optimizer(hparams, learning_rate):
    """The Keras optimizer named by hparams.optimizer, at `learning_rate` (a schedule)."""
    name = hparams.optimizer.lower()
    name = ALIASES.get(name, name)
    clip = {"global_clipnorm": hparams.clip_grad_norm} if hparams.clip_grad_norm > 0 else {}
    extra = {"weight_decay": hparams.weight_decay} if hparams.weight_decay > 0 else {}
    steps = accumulate_steps(hparams)
    if steps > 1:
        extra["gradient_accumulation_steps"] = steps
    if name == "adam":
        return Adam(learning_rate=learning_rate, beta_1=hparams.optimizer_adam_beta1,
                    beta_2=hparams.optimizer_adam_beta2, epsilon=hparams.optimizer_adam_epsilon,
                    **clip, **extra)
    if name == "adafactor":
        return Adafactor(learning_rate=learning_rate,
                         beta_2_decay=-hparams.optimizer_adafactor_decay_rate, **clip, **extra)
    if name == "sgd":
        return SGD(learning_rate=learning_rate, **clip, **extra)
    if name == "momentum":
        return SGD(learning_rate=learning_rate, momentum=hparams.optimizer_momentum_momentum,
                   nesterov=hparams.optimizer_momentum_nesterov, **clip, **extra)
    known = OPTIMIZERS + tuple(ALIASES)
    raise UserError(f"unknown optimizer '{hparams.optimizer}'.{did_you_mean(name, known)} "
                    f"Known optimizers: {', '.join(known)}.")

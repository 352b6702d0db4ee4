"""Optimizers by T2T name: adam, adafactor, sgd, momentum.

Values that T2T keeps in hparams (betas, epsilon, momentum, clipping) come from hparams.
Every other constructor argument of the Keras optimizer can be bound with gin, e.g.

    --gin_param="keras.optimizers.Adam.amsgrad = True"
"""
import gin
import keras

from t2tlike.errors import UserError, did_you_mean

Adam = gin.external_configurable(keras.optimizers.Adam, module="keras.optimizers")
Adafactor = gin.external_configurable(keras.optimizers.Adafactor, module="keras.optimizers")
SGD = gin.external_configurable(keras.optimizers.SGD, module="keras.optimizers")

OPTIMIZERS = ("adam", "adafactor", "sgd", "momentum")


def create_optimizer(hparams, learning_rate):
    """The Keras optimizer named by hparams.optimizer, at `learning_rate` (a schedule)."""
    name = hparams.optimizer.lower()
    clip = {"global_clipnorm": hparams.clip_grad_norm} if hparams.clip_grad_norm > 0 else {}
    decay = {"weight_decay": hparams.weight_decay} if hparams.weight_decay > 0 else {}
    if name == "adam":
        return Adam(learning_rate=learning_rate, beta_1=hparams.optimizer_adam_beta1,
                    beta_2=hparams.optimizer_adam_beta2, epsilon=hparams.optimizer_adam_epsilon,
                    **clip, **decay)
    if name == "adafactor":
        return Adafactor(learning_rate=learning_rate,
                         beta_2_decay=-hparams.optimizer_adafactor_decay_rate, **clip, **decay)
    if name == "sgd":
        return SGD(learning_rate=learning_rate, **clip, **decay)
    if name == "momentum":
        return SGD(learning_rate=learning_rate, momentum=hparams.optimizer_momentum_momentum,
                   nesterov=hparams.optimizer_momentum_nesterov, **clip, **decay)
    raise UserError(f"unknown optimizer '{hparams.optimizer}'.{did_you_mean(name, OPTIMIZERS)} "
                    f"Known optimizers: {', '.join(OPTIMIZERS)}.")

import gin
import keras
import pytest

from t2tlike.errors import UserError
from t2tlike.hparams import create_hparams
from t2tlike.training import optimizers


@pytest.fixture
def hp():
    import t2tlike.models  # noqa: F401
    return create_hparams("transformer_tiny")


@pytest.mark.parametrize("name, cls", [("adam", keras.optimizers.Adam),
                                       ("adafactor", keras.optimizers.Adafactor),
                                       ("sgd", keras.optimizers.SGD),
                                       ("momentum", keras.optimizers.SGD)])
def test_optimizers_by_t2t_name(hp, name, cls):
    opt = optimizers.create_optimizer(hp.replace(optimizer=name, clip_grad_norm=1.0), 0.1)
    assert isinstance(opt, cls)
    assert opt.global_clipnorm == 1.0
    if name == "momentum":
        assert opt.momentum == pytest.approx(0.9)
    if name == "adam":
        assert opt.beta_2 == pytest.approx(0.997) and opt.epsilon == pytest.approx(1e-9)


def test_unknown_optimizer(hp):
    with pytest.raises(UserError, match="adam"):
        optimizers.create_optimizer(hp.replace(optimizer="adamm"), 0.1)


def test_gin_binds_other_constructor_arguments(hp):
    gin.clear_config()
    try:
        gin.parse_config("keras.optimizers.Adam.amsgrad = True")
        assert optimizers.create_optimizer(hp, 0.1).amsgrad is True
    finally:
        gin.clear_config()
    assert optimizers.create_optimizer(hp, 0.1).amsgrad is False

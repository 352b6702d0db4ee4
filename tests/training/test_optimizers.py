import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from t2tlike.errors import UserError
from t2tlike.hparams import create_hparams
from t2tlike.training import optimizers


def _create(hp, learning_rate):
    return optimizers.create_optimizer(optimizers.OptimizerConfig.from_hparams(hp),
                                       learning_rate)


@pytest.fixture
def hp():
    import t2tlike.models  # noqa: F401
    return create_hparams("transformer_tiny")


@pytest.mark.parametrize("name, cls", [("adam", keras.optimizers.Adam),
                                       ("adafactor", keras.optimizers.Adafactor),
                                       ("sgd", keras.optimizers.SGD),
                                       ("momentum", keras.optimizers.SGD)])
def test_optimizers_by_t2t_name(hp, name, cls):
    opt = _create(hp.replace(optimizer=name, clip_grad_norm=1.0), 0.1)
    assert isinstance(opt, cls)
    assert opt.global_clipnorm == 1.0
    # one update of a kernel and a bias (Adafactor factors the first) in a graph
    kernel, bias = keras.Variable(np.ones([3, 2], "float32")), keras.Variable([1.0, 1.0])
    opt.build([kernel, bias])
    grads = [np.full([3, 2], 0.5, "float32"), np.array([-0.5, 0.5], "float32")]
    tf.function(lambda: opt.apply_gradients(zip(grads, [kernel, bias])))()
    for var in (kernel, bias):
        assert np.isfinite(var.numpy()).all() and (var.numpy() != 1.0).all(), (name, var)
    assert (kernel.numpy() < 1.0).all() and bias.numpy()[0] > 1.0 > bias.numpy()[1]
    assert int(opt.iterations) == 1
    if name == "momentum":
        assert opt.momentum == pytest.approx(0.9)
    if name == "adam":
        assert opt.beta_2 == pytest.approx(0.997) and opt.epsilon == pytest.approx(1e-9)


def test_unknown_optimizer(hp):
    with pytest.raises(UserError, match="adam"):
        _create(hp.replace(optimizer="adamm"), 0.1)


def test_gin_binds_other_constructor_arguments(hp):
    gin.clear_config()
    try:
        gin.parse_config("keras.optimizers.Adam.amsgrad = True")
        assert _create(hp, 0.1).amsgrad is True
    finally:
        gin.clear_config()
    assert _create(hp, 0.1).amsgrad is False


def test_multistep_accumulation_updates_once_every_n_batches_with_the_mean_gradient(hp):
    opt = _create(
        hp.replace(optimizer="sgd", clip_grad_norm=0.0, optimizer_multistep_accumulate_steps=2),
        0.5)
    var = keras.Variable([1.0, 1.0])
    opt.build([var])
    opt.apply_gradients([(keras.ops.convert_to_tensor([2.0, 0.0]), var)])
    assert var.numpy().tolist() == [1.0, 1.0]          # first batch: accumulated only
    assert int(opt.iterations) == 0
    opt.apply_gradients([(keras.ops.convert_to_tensor([0.0, 4.0]), var)])
    # second batch: one step of lr 0.5 with the mean gradient [1, 2]
    assert var.numpy().tolist() == pytest.approx([0.5, 0.0])
    assert int(opt.iterations) == 1


def test_multistep_adam_is_t2ts_name_for_adam(hp):
    opt = _create(
        hp.replace(optimizer="multistep_adam", optimizer_multistep_accumulate_steps=4), 0.1)
    assert isinstance(opt, keras.optimizers.Adam)
    assert opt.gradient_accumulation_steps == 4
    assert _create(hp, 0.1).gradient_accumulation_steps is None


@pytest.mark.parametrize("bad", [-1, 2.5, "4", True])
def test_bad_accumulate_steps_is_one_clear_error(hp, bad):
    with pytest.raises(UserError, match="optimizer_multistep_accumulate_steps"):
        _create(hp.replace(optimizer_multistep_accumulate_steps=bad), 0.1)

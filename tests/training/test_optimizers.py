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


def test_adam_is_one_fused_op_per_weight_and_follows_keras_adam(hp):
    """Five steps of the fused update against Keras's elementwise one, on a schedule's
    learning rate, from the same start, its scalars built once for both weights; a sparse
    gradient takes Keras's own update."""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype("float32") for s in ([40, 30], [30])]
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5)
    results = {}
    for cls in (keras.optimizers.Adam, optimizers.FusedAdam):
        weights = [keras.Variable(w) for w in start]
        opt = cls(learning_rate=schedule, beta_2=0.997, epsilon=1e-9)
        step = tf.function(lambda grads: opt.apply_gradients(zip(grads, weights)))
        for i in range(5):
            step([tf.constant(np.random.default_rng(i).standard_normal(w.shape), tf.float32)
                  for w in start])
        results[cls] = [w.numpy() for w in weights + opt._momentums + opt._velocities]
        ops = step.get_concrete_function(
            [tf.TensorSpec(w.shape, tf.float32) for w in start]).graph.get_operations()
        if cls is optimizers.FusedAdam:
            assert sum(op.type == "ResourceApplyAdam" for op in ops) == 2
            # the schedule's power and the two beta powers, shared by the weights
            assert sum(op.type == "Pow" for op in ops) == 3
    assert np.abs(results[optimizers.FusedAdam][0] - start[0]).mean() > 1e-2   # they moved
    for keras_adam, fused in zip(results[keras.optimizers.Adam], results[optimizers.FusedAdam]):
        np.testing.assert_allclose(fused, keras_adam, rtol=1e-5, atol=1e-6)

    table = keras.Variable(np.ones([4, 3], "float32"))
    opt = _create(hp, 0.1)
    tf.function(lambda: opt.apply_gradients(
        [(tf.IndexedSlices(tf.ones([1, 3]), tf.constant([2]), tf.constant([4, 3])), table)]))()
    assert (table.numpy()[2] < 1.0).all() and (np.delete(table.numpy(), 2, 0) == 1.0).all()

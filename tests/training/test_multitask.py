"""t2tlike/training/multitask.py with the Trainer: a MultiProblem trains on its mixture,
is evaluated task by task, and its schedule follows the tasks' dev scores."""
import numpy as np
import pytest
import tensorflow as tf

import helpers
from helpers import TinyMulti
from t2tlike.training import task_schedules
from t2tlike.t2t_model import EXAMPLE_WEIGHTS
from t2tlike.training.multitask import MultiTask
from t2tlike.training.trainer import Trainer

NAMES = [helpers.REVERSE, helpers.IDENTITY]


@pytest.fixture
def data_dir(tiny_multi):
    """The toy multi-task world's data (200 reverse and 600 copy training samples); each test
    trains its own TinyMulti()."""
    return tiny_multi[1]


def _hparams(**overrides):
    return helpers.tiny_transformer_hparams(hidden_size=32, filter_size=64,
                                            **helpers.NO_DROPOUT, **overrides)


def _assert_evaluated_per_task(results, metrics=("accuracy", "accuracy_per_sequence", "loss")):
    for name in NAMES:
        for metric in metrics:
            assert np.isfinite(results[f"{name}/{metric}"]), (name, metric, results)


def test_adaptive_schedule_follows_per_task_eval_and_is_checkpointed(data_dir, tmp_path):
    """(under example mixing, which the trainer runs too: several tasks in a batch; batch
    mixing trains in tests/models/test_multimodel.py and tests/bin/test_multi_problem_cli.py)"""
    hp = _hparams(multiproblem_schedule="adaptive", multiproblem_adaptive_baselines=[0.9, 0.5],
                  multiproblem_mixing="example", multiproblem_adaptive_floor=0.0)
    problem = TinyMulti()
    trainer = Trainer(problem, "transformer", hp, data_dir, str(tmp_path), train_steps=20,
                      eval_steps=2, local_eval_frequency=20, random_seed=1)
    assert trainer.tasks.mixing == "example"
    # before any evaluation the adaptive schedule samples proportionally (200 vs 600)
    assert problem.task_sizes(data_dir) == [200, 600]
    results = trainer.train()
    _assert_evaluated_per_task(results)
    scores = [results[f"{name}/accuracy_per_sequence"] for name in NAMES]
    expected = task_schedules.adaptive_weights(scores, [0.9, 0.5])
    np.testing.assert_allclose(trainer.tasks.mixture.weights.numpy(), expected, rtol=1e-5)
    # each task's best dev checkpoint is kept apart (the only evaluation: step 20)
    assert trainer.best.best == {name: {"step": 20, "score": score}
                                 for name, score in zip(NAMES, scores)}
    for name in NAMES:
        assert tf.train.latest_checkpoint(trainer.best.task_dir(name)).endswith("model-20")

    # a resumed run restores the mixture it had reached
    resumed = Trainer(TinyMulti(), "transformer", hp, data_dir, str(tmp_path), train_steps=20)
    assert resumed.train() == {}          # nothing left to train; the checkpoint is restored
    np.testing.assert_allclose(resumed.tasks.mixture.weights.numpy(), expected, rtol=1e-5)


def test_fixed_and_implicit_schedules_set_the_mixture_and_loss_weights(data_dir, tmp_path):
    problem = TinyMulti()
    multitask = MultiTask(problem, _hparams(multiproblem_schedule="temperature",
                                            multiproblem_temperature=2.0), data_dir)
    multitask.start(0, restored=False)
    p = np.sqrt([200.0, 600.0])
    np.testing.assert_allclose(multitask.mixture.weights.numpy(), p / p.sum(), rtol=1e-6)
    np.testing.assert_allclose(multitask.loss_weights.numpy(), [1.0, 1.0])

    implicit = MultiTask(problem, _hparams(multiproblem_schedule="adaptive_implicit",
                                           multiproblem_adaptive_baselines=[1.0, 1.0],
                                           multiproblem_adaptive_warmup="proportional",
                                           multiproblem_adaptive_floor=0.0), data_dir)
    implicit.start(0, restored=False)
    q = np.array([0.25, 0.75])
    np.testing.assert_allclose(implicit.mixture.weights.numpy(), q, rtol=1e-6)  # stays fixed
    implicit.after_eval({NAMES[0]: {"accuracy_per_sequence": 0.2},
                     NAMES[1]: {"accuracy_per_sequence": 0.8}}, step=10)
    np.testing.assert_allclose(implicit.mixture.weights.numpy(), q, rtol=1e-6)
    p = task_schedules.adaptive_weights([0.2, 0.8], [1.0, 1.0])
    w = implicit.loss_weights.numpy()
    np.testing.assert_allclose(w, task_schedules.implicit_loss_weights(p, q), rtol=1e-5)
    assert w[0] > 1.0 > w[1]
    # each example's loss gets its own task's weight, in a batch that mixes the tasks
    batch = {"task_id": tf.constant([[1], [0], [1]], tf.int64)}
    np.testing.assert_allclose(
        implicit.with_loss_weights(batch)[EXAMPLE_WEIGHTS].numpy(), w[[1, 0, 1]], rtol=1e-6)
    assert implicit.weights_examples and not multitask.weights_examples


def test_implicit_schedule_trains_with_tasks_mixed_in_a_batch(data_dir, tmp_path):
    """auto mixing picks example mixing for a one-softmax Transformer, and the implicit
    schedule's loss weights scale the optimized loss example by example."""
    hp = _hparams(multiproblem_schedule="adaptive_implicit",
                  multiproblem_adaptive_baselines=[0.9, 0.5])
    trainer = Trainer(TinyMulti(), "transformer", hp, data_dir, str(tmp_path), train_steps=2,
                      eval_steps=1, random_seed=1)
    assert trainer.tasks.mixing == "example"
    assert trainer.input_config.multiproblem_mixing == "example"
    batch = next(iter(trainer._train_input(0)))
    assert len(set(batch["task_id"].numpy().ravel())) == 2   # both tasks in one batch
    trainer.tasks.loss_weights.assign([3.0, 0.0])   # only task 0's examples count
    logits = trainer.model(batch)   # eagerly, which creates the weights (no train step here)
    weighted, den = trainer.model.training_loss(logits, trainer.tasks.with_loss_weights(batch))
    only0 = {k: tf.boolean_mask(v, batch["task_id"][:, 0] == 0) for k, v in batch.items()}
    num0, _ = trainer.model.training_loss(trainer.model(only0), only0)
    assert float(weighted) == pytest.approx(3 * float(num0), rel=1e-4)
    # still normalized by every target token of the batch, weighted or not
    assert float(den) == float(tf.reduce_sum(tf.cast(batch["targets"] != 0, tf.float32)))


def test_bleu_or_accuracy_is_the_adaptive_score():
    assert MultiTask.score({"bleu": 23.5, "accuracy_per_sequence": 0.1}) == 23.5
    assert MultiTask.score({"accuracy_per_sequence": 0.4, "accuracy": 0.9}) == 0.4

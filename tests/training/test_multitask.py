"""t2tlike/training/multitask.py with the Trainer: a MultiProblem trains on its mixture,
is evaluated task by task, and its schedule follows the tasks' dev scores."""
import numpy as np
import pytest
import tensorflow as tf

import helpers
import t2tlike.models  # noqa: F401
from data_generators import algorithmic
from data_generators.multi_problem import MultiProblem
from t2tlike.errors import UserError
from t2tlike.hparams import create_hparams
from t2tlike.training import task_schedules
from t2tlike.training.multitask import MultiTask
from t2tlike.training.trainer import Trainer

TinyReverse = helpers.tiny_problem_class(algorithmic.AlgorithmicReverseBinary40)
TinyIdentity = helpers.tiny_problem_class(algorithmic.AlgorithmicIdentityBinary40,
                                          train_size=600)
NAMES = ["tiny_algorithmic_reverse_binary40", "tiny_algorithmic_identity_binary40"]


class TwoTasks(MultiProblem):
    approx_vocab_size = 24
    task_list = [TinyReverse(), TinyIdentity()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("multi"))
    TwoTasks().generate_data(path, path)
    return path


def _hparams(**overrides):
    return create_hparams("transformer_tiny").replace(
        num_hidden_layers=1, hidden_size=32, filter_size=64, batch_size=256,
        layer_prepostprocess_dropout=0.0, attention_dropout=0.0, relu_dropout=0.0,
        learning_rate_warmup_steps=20, **overrides)


def test_adaptive_schedule_follows_per_task_eval_and_is_checkpointed(data_dir, tmp_path):
    hp = _hparams(multiproblem_schedule="adaptive", multiproblem_adaptive_baselines=[0.9, 0.5])
    problem = TwoTasks()
    trainer = Trainer(problem, "transformer", hp, data_dir, str(tmp_path), train_steps=20,
                      eval_steps=2, local_eval_frequency=20, random_seed=1)
    # before any evaluation the adaptive schedule samples proportionally (200 vs 600)
    assert problem.task_sizes(data_dir) == [200, 600]
    results = trainer.train()
    for name in NAMES:
        assert {f"{name}/accuracy", f"{name}/accuracy_per_sequence", f"{name}/loss"} <= \
            set(results)
    scores = [results[f"{name}/accuracy_per_sequence"] for name in NAMES]
    expected = task_schedules.adaptive_weights(scores, [0.9, 0.5])
    np.testing.assert_allclose(trainer.tasks.mixture.weights.numpy(), expected, rtol=1e-5)

    # a resumed run restores the mixture it had reached
    resumed = Trainer(TwoTasks(), "transformer", hp, data_dir, str(tmp_path), train_steps=20)
    assert resumed.train() == {}          # nothing left to train; the checkpoint is restored
    np.testing.assert_allclose(resumed.tasks.mixture.weights.numpy(), expected, rtol=1e-5)


def test_fixed_and_implicit_schedules_set_the_mixture_and_loss_weights(data_dir, tmp_path):
    problem = TwoTasks()
    multitask = MultiTask(problem, _hparams(multiproblem_schedule="temperature",
                                            multiproblem_temperature=2.0), data_dir)
    multitask.start(0, restored=False)
    p = np.sqrt([200.0, 600.0])
    np.testing.assert_allclose(multitask.mixture.weights.numpy(), p / p.sum(), rtol=1e-6)
    np.testing.assert_allclose(multitask.loss_weights.numpy(), [1.0, 1.0])

    implicit = MultiTask(problem, _hparams(multiproblem_schedule="adaptive_implicit",
                                           multiproblem_adaptive_baselines=[1.0, 1.0]), data_dir)
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
    batch = {"task_id": tf.constant([[1], [1]], tf.int64)}
    assert float(implicit.weight_loss(tf.constant(2.0), batch)) == pytest.approx(2 * w[1])


def test_example_mixing_trains_and_refuses_the_implicit_schedule(data_dir, tmp_path):
    problem = TwoTasks()
    trainer = Trainer(problem, "transformer", _hparams(multiproblem_mixing="example"), data_dir,
                      str(tmp_path), train_steps=3, eval_steps=1, random_seed=1)
    assert trainer.tasks.mixing == "example"
    results = trainer.train()
    assert {f"{n}/accuracy" for n in NAMES} <= set(results)
    with pytest.raises(UserError, match="adaptive_implicit .*one task per batch"):
        MultiTask(problem, _hparams(multiproblem_mixing="example",
                                    multiproblem_schedule="adaptive_implicit",
                                    multiproblem_adaptive_baselines=[1.0, 1.0]), data_dir)


def test_bleu_or_accuracy_is_the_adaptive_score():
    assert MultiTask.score({"bleu": 23.5, "accuracy_per_sequence": 0.1}) == 23.5
    assert MultiTask.score({"accuracy_per_sequence": 0.4, "accuracy": 0.9}) == 0.4

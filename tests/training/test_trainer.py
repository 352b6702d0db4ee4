"""The training loop on a tiny copy task: it learns, checkpoints, resumes, and runs the
same under a two-replica MirroredStrategy on logical CPU devices."""
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import t2tlike.models  # noqa: F401
from data_generators import algorithmic
from t2tlike import registry
from t2tlike.hparams import create_hparams
from t2tlike.training.trainer import Trainer


class TinyCopy(algorithmic.AlgorithmicIdentityBinary40):
    """Copy binary strings of length 1-6 (small, so a few hundred steps suffice)."""
    train_length = 6
    dev_length = 6
    train_size = 2000
    dev_size = 200
    test_size = 0
    num_shards = 2


def _hparams(**overrides):
    return create_hparams("transformer_tiny").replace(
        num_hidden_layers=1, hidden_size=64, filter_size=128, batch_size=256,
        learning_rate_warmup_steps=50, learning_rate_constant=0.02,
        learning_rate_schedule="constant*linear_warmup*rsqrt_decay", **overrides).freeze()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tiny_copy"))
    problem = TinyCopy()
    problem.generate_data(data_dir, None)
    return problem, data_dir


def test_trainer_learns_checkpoints_and_resumes(tiny_data, tmp_path):
    problem, data_dir = tiny_data
    out = str(tmp_path)
    trainer = Trainer(problem, "transformer", _hparams(), data_dir, out, train_steps=200,
                      eval_steps=5, local_eval_frequency=100, random_seed=3)
    results = trainer.train()
    assert results["accuracy"] > 0.9, results
    assert results["neg_log_perplexity"] > -0.5, results
    assert tf.train.latest_checkpoint(out).endswith("model-200")

    resumed = Trainer(problem, "transformer", _hparams(), data_dir, out, train_steps=210,
                      eval_steps=2, local_eval_frequency=100, random_seed=3)
    resumed.train()
    assert int(resumed.step.numpy()) == 210
    assert tf.train.latest_checkpoint(out).endswith("model-210")
    # the resumed run started from the trained weights, not from scratch
    assert resumed.evaluate()["accuracy"] > 0.9


def test_trainer_with_sgd_momentum_and_adafactor_steps(tiny_data, tmp_path):
    problem, data_dir = tiny_data
    for name in ("momentum", "adafactor"):
        trainer = Trainer(problem, "transformer", _hparams(optimizer=name), data_dir,
                          str(tmp_path / name), train_steps=3, eval_steps=1, random_seed=1)
        results = trainer.train()
        assert set(results) >= {"accuracy", "accuracy_per_sequence", "neg_log_perplexity"}


MULTI_REPLICA = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {test_dir!r})
    from test_trainer import TinyCopy, _hparams
    from t2tlike.training.trainer import Trainer
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    problem = TinyCopy()
    problem.generate_data({data_dir!r}, None)
    trainer = Trainer(problem, "transformer", _hparams(), {data_dir!r}, {out_dir!r},
                      train_steps=120, eval_steps=3, local_eval_frequency=120, random_seed=3,
                      strategy=strategy)
    assert trainer.strategy.num_replicas_in_sync == 2
    results = trainer.train()
    print("ACCURACY", results["accuracy"])
""")


def test_two_replica_mirrored_training(tmp_path):
    script = MULTI_REPLICA.format(test_dir=os.path.dirname(__file__),
                                  data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    accuracy = float(proc.stdout.split("ACCURACY")[1])
    assert accuracy > 0.8, proc.stdout

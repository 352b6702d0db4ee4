"""t2tlike/training/checkpoint_averaging.py on three checkpoints of a tiny module with
known values."""
import os

import numpy as np
import pytest
import tensorflow as tf

from t2tlike.errors import UserError
from t2tlike.training import checkpoint_averaging


class Tiny(tf.Module):
    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.zeros([2, 3]))
        self.half = tf.Variable(tf.zeros([2], tf.bfloat16))
        self.count = tf.Variable(0, dtype=tf.int64)


def _checkpoint(model, step):
    return tf.train.Checkpoint(model=model, step=step)


@pytest.fixture
def run_dir(tmp_path):
    """A run with checkpoints model-100, -200, -300: kernel = i, half = 2i, count = 10i."""
    model, step = Tiny(), tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(_checkpoint(model, step), str(tmp_path / "run"),
                                         max_to_keep=5, checkpoint_name="model")
    for i in (1, 2, 3):
        model.kernel.assign(tf.fill([2, 3], float(i)))
        model.half.assign(tf.fill([2], tf.cast(2 * i, tf.bfloat16)))
        model.count.assign(10 * i)
        step.assign(100 * i)
        manager.save(checkpoint_number=100 * i)
    (tmp_path / "run" / "hparams.json").write_text('{"hidden_size": 8}')
    return str(tmp_path / "run")


def _restore(path):
    model, step = Tiny(), tf.Variable(0, dtype=tf.int64)
    _checkpoint(model, step).restore(path).assert_consumed()
    return model, step


def test_lists_checkpoints_oldest_first_and_honours_min_steps(run_dir):
    assert [s for s, _ in checkpoint_averaging.list_checkpoints(run_dir)] == [100, 200, 300]
    assert [s for s, _ in checkpoint_averaging.list_checkpoints(run_dir, min_steps=150)] == \
        [200, 300]


def test_only_the_checkpoints_the_state_file_lists_count(run_dir, tmp_path):
    """An orphan (a save killed before the state file was updated) is never averaged;
    without a state file, the .index files are all there is to go by."""
    orphan = tf.train.Checkpoint(model=Tiny(), step=tf.Variable(400, dtype=tf.int64))
    orphan.write(os.path.join(run_dir, "model-400"))
    assert [s for s, _ in checkpoint_averaging.list_checkpoints(run_dir)] == [100, 200, 300]
    os.remove(os.path.join(run_dir, "checkpoint"))
    assert [s for s, _ in checkpoint_averaging.list_checkpoints(run_dir)] == \
        [100, 200, 300, 400]


@pytest.mark.parametrize("damage", ["truncate_index", "garble_index"])
def test_a_corrupt_checkpoint_is_one_message_naming_it(run_dir, tmp_path, damage):
    index = os.path.join(run_dir, "model-300.index")
    content = open(index, "rb").read()
    with open(index, "wb") as f:
        f.write(content[:len(content) // 2] if damage == "truncate_index"
                else b"\x00garbage" * 20)
    with pytest.raises(UserError, match="checkpoint .*model-300 cannot be read .* truncated or "
                                        "corrupt"):
        checkpoint_averaging.average_last(run_dir, str(tmp_path / "avg"), n=2)


def test_averages_floats_and_keeps_the_newest_counters(run_dir, tmp_path):
    out = str(tmp_path / "avg")
    result = checkpoint_averaging.average_last(run_dir, out, n=2)
    assert result.steps == [200, 300]
    assert result.path == os.path.join(out, "model-300")
    assert tf.train.latest_checkpoint(out) == result.path
    model, step = _restore(tf.train.latest_checkpoint(out))
    np.testing.assert_allclose(model.kernel.numpy(), np.full([2, 3], 2.5))
    np.testing.assert_allclose(model.half.numpy().astype(np.float32), [5.0, 5.0])
    assert model.half.dtype == tf.bfloat16
    assert int(model.count.numpy()) == 30 and int(step.numpy()) == 300
    assert (tmp_path / "avg" / "hparams.json").read_text() == '{"hidden_size": 8}'
    assert not [f for f in os.listdir(out) if f.startswith(".avg-tmp") or f.endswith(".tmp")]


def test_all_checkpoints_and_fewer_than_n(run_dir, tmp_path):
    result = checkpoint_averaging.average_last(run_dir, str(tmp_path / "avg"), n=8)
    assert result.steps == [100, 200, 300] and result.num_averaged == 2
    model, _ = _restore(result.path)
    np.testing.assert_allclose(model.kernel.numpy(), np.full([2, 3], 2.0))
    # A second average into the same folder replaces the first.
    again = checkpoint_averaging.average_last(run_dir, str(tmp_path / "avg"), n=1,
                                              min_steps=300)
    model, _ = _restore(tf.train.latest_checkpoint(str(tmp_path / "avg")))
    assert again.steps == [300]
    np.testing.assert_allclose(model.kernel.numpy(), np.full([2, 3], 3.0))


def test_mismatched_checkpoints_are_refused(run_dir, tmp_path):
    other = tf.train.Checkpoint(model=tf.Module(), step=tf.Variable(0, dtype=tf.int64))
    other.model.kernel = tf.Variable(tf.zeros([4, 4]))
    other.write(os.path.join(run_dir, "model-50"))
    prefixes = [os.path.join(run_dir, "model-50"), os.path.join(run_dir, "model-300")]
    with pytest.raises(UserError, match="has no variable|has shape"):
        checkpoint_averaging.average_checkpoints(prefixes)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(n=0), "--n must be at least 1"),
    (dict(min_steps=1000), "no checkpoints with step >= 1000"),
])
def test_bad_arguments_are_user_errors(run_dir, tmp_path, kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        checkpoint_averaging.average_last(run_dir, str(tmp_path / "avg"), **kwargs)


def test_missing_or_empty_model_dir_and_same_output_dir(run_dir, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        checkpoint_averaging.average_last(str(tmp_path / "nowhere"), str(tmp_path / "avg"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no checkpoints in"):
        checkpoint_averaging.average_last(str(tmp_path / "empty"), str(tmp_path / "avg"))
    with pytest.raises(UserError, match="must differ from --model_dir"):
        checkpoint_averaging.average_last(run_dir, run_dir)

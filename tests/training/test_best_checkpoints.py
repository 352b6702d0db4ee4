"""t2tlike/training/best_checkpoints.py: a task's folder holds its best-scoring checkpoint
only, survives the rolling checkpoints, and a resumed run keeps improving on it."""
import json
import os

import tensorflow as tf

from t2tlike.decoding.decoder import checkpoint_prefix
from t2tlike.training.best_checkpoints import BestCheckpoints


def _save(run_dir, value, step):
    v = tf.Variable(float(value))
    return tf.train.Checkpoint(v=v).write(os.path.join(run_dir, f"model-{step}"))


def _value(prefix):
    v = tf.Variable(0.0)
    tf.train.Checkpoint(v=v).read(prefix).assert_consumed()
    return float(v.numpy())


def test_each_task_keeps_its_best_checkpoint(tmp_path):
    run = str(tmp_path)
    best = BestCheckpoints(run)
    assert best.update({"de": 5.0, "fr": 20.0}, 100, _save(run, 1.0, 100)) == ["de", "fr"]
    assert best.update({"de": 7.0, "fr": 19.0}, 200, _save(run, 2.0, 200)) == ["de"]
    assert best.update({"de": 6.0, "fr": float("nan")}, 300, _save(run, 3.0, 300)) == []
    for step in (100, 200, 300):   # the rolling checkpoints go; the best ones stay
        for f in tf.io.gfile.glob(os.path.join(run, f"model-{step}.*")):
            os.remove(f)

    assert _value(checkpoint_prefix(best.task_dir("de"))) == 2.0   # step 200's weights
    assert _value(checkpoint_prefix(best.task_dir("fr"))) == 1.0   # step 100's
    assert sorted(os.listdir(best.task_dir("de"))) == [
        "checkpoint", "model-200.data-00000-of-00001", "model-200.index"]
    with open(os.path.join(run, "best", "best.json")) as f:
        assert json.load(f) == {"de": {"score": 7.0, "step": 200},
                                "fr": {"score": 20.0, "step": 100}}

    resumed = BestCheckpoints(run)   # reads best.json: 6.5 does not beat de's 7.0
    assert resumed.update({"de": 6.5, "fr": 21.0}, 400, _save(run, 4.0, 400)) == ["fr"]
    assert _value(checkpoint_prefix(resumed.task_dir("de"))) == 2.0
    assert _value(checkpoint_prefix(resumed.task_dir("fr"))) == 4.0
    assert not tf.io.gfile.glob(os.path.join(resumed.task_dir("fr"), "model-100.*"))


def test_a_failed_copy_is_reported_not_raised(tmp_path):
    run = str(tmp_path)
    open(os.path.join(run, "best"), "w").close()   # a file where the folder must go
    best = BestCheckpoints(run)
    assert best.keep({"de": 1.0}, 1, _save(run, 1.0, 1)) == []
    assert best.best == {}


def test_an_unreadable_index_is_ignored_not_a_traceback(tmp_path):
    run = str(tmp_path)
    os.makedirs(os.path.join(run, "best"))
    with open(os.path.join(run, "best", "best.json"), "w") as f:
        f.write("{not json")
    best = BestCheckpoints(run)
    assert best.best == {}
    assert best.update({"de": 1.0}, 1, _save(run, 1.0, 1)) == ["de"]

"""Two real worker processes (MultiWorkerMirroredStrategy on 127.0.0.1, one CPU thread
each) update the weights as one process does on both workers' batches together, and a NaN
loss on one of them skips the update on both. Their training loop resumes from the
chief's checkpoint on both; when one dies, the other stops with one message naming it.
The command-line job (evaluation, signals, the chief's files):
tests/bin/test_multi_worker.py.
"""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import helpers
from t2tlike.training import local_workers
from t2tlike.training.trainer import Trainer, feature_spec

STEPS = 4
WORKER = textwrap.dedent("""
    import os, sys
    import numpy as np
    import tensorflow as tf
    from absl import logging
    logging.set_verbosity(logging.INFO)   # the resume line
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from t2tlike.training import distribute
    strategy = distribute.make_strategy(
        distribute.parse_tf_config(os.environ["TF_CONFIG"]), "ring", 60)
    sys.path.insert(0, {tests_dir!r})
    from helpers import NO_DROPOUT, TinyCopy, tiny_transformer_hparams
    from t2tlike.errors import Stopped
    from t2tlike.training.trainer import Trainer, feature_spec
    worker = distribute.worker_of(strategy)
    problem = TinyCopy()
    trainer = Trainer(problem, "transformer",
                      tiny_transformer_hparams(**NO_DROPOUT, label_smoothing=0.0),
                      {data_dir!r}, {out!r} + "/run", train_steps=1000, eval_steps=0,
                      random_seed=3, strategy=strategy)
    data = problem.dataset("train", {data_dir!r}, trainer.input_config, seed=1)
    batches = [{{k: v.numpy() for k, v in b.items()}} for b in data.take(2 * {steps})]
    mine = batches[worker.index::2]   # worker i: batches i, i + 2, i + 4, ...
    trainer.build(batches[0])
    np.savez({out!r} + f"/initial{{worker.index}}.npz",
             *[v.numpy() for v in trainer.model.trainable_variables])
    inputs = strategy.distribute_datasets_from_function(lambda _: tf.data.Dataset.from_generator(
        lambda: iter(mine), output_signature=feature_spec(data)))
    poison, loss_of = tf.Variable(0.0), trainer.model.training_loss

    def poisoned(logits, features):   # when poison is set, NaN on worker 1 only
        num, den = loss_of(logits, features)
        return num * tf.where((poison > 0) & (worker.index == 1), float("nan"), 1.0), den
    trainer.model.training_loss = poisoned
    step = trainer.train_step(inputs)
    losses = [float(step(batch)[0]) for batch in inputs]
    final = [v.numpy() for v in trainer.model.trainable_variables]
    np.savez({out!r} + f"/final{{worker.index}}.npz", np.array(losses), *final)
    poison.assign(1.0)
    updates = int(trainer.optimizer.iterations.numpy())
    step(next(iter(inputs)))   # skipped on both workers
    print("SKIPPED", int(trainer.skipped_steps.numpy()), int(trainer.consecutive_skipped.numpy()),
          int(trainer.optimizer.iterations.numpy()) - updates, all(
              np.array_equal(v.numpy(), w)
              for v, w in zip(trainer.model.trainable_variables, final)), flush=True)
    trainer.model.training_loss = loss_of

    trainer.step.assign({steps})
    trainer.save({steps})   # the chief's checkpoint, which both resume from
    distribute.Collectives(strategy).sum([0.0])   # once it is written
    if worker.index == 1:   # lost after step {steps} + 2: worker 0's next all-reduce fails
        trainer.tasks.on_step = lambda step: step == {steps} + 2 and os.kill(os.getpid(), 9)
    try:
        trainer.train()
    except Stopped as e:
        print("STOPPED", e.exit_status, e, flush=True)
""")


def _together(first, second):
    """Two batches as one, the shorter padded (padding is masked, in attention and loss)."""
    length = {k: max(first[k].shape[1], second[k].shape[1]) for k in first}
    pad = lambda a, n: np.pad(a, [(0, 0), (0, n - a.shape[1])])   # noqa: E731
    return {k: tf.constant(np.concatenate([pad(first[k], length[k]), pad(second[k], length[k])]))
            for k in first}


@pytest.mark.slow
def test_two_workers_update_as_one_process_on_both_batches_and_a_lost_one_is_named(
        tiny_data, tmp_path):
    problem, data_dir = tiny_data
    script = WORKER.format(tests_dir=os.path.dirname(os.path.dirname(__file__)),
                           data_dir=data_dir, out=str(tmp_path), steps=STEPS)
    workers = [subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, TF_CONFIG=c),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for c in local_workers.tf_configs(2)]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, -9], "\n".join(log[-3000:] for log in logs)
    for log in logs:   # a NaN loss on worker 1 skips the update on both, counted
        assert "SKIPPED 1 1 0 True" in log, log[-3000:]
    assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith(f"model-{STEPS}")
    for log in logs:   # from the chief's checkpoint, both
        assert f"Resumed from {tmp_path}/run/model-{STEPS} at step {STEPS}." in log, log[-3000:]
    assert re.search(rf"STOPPED 1 worker 0 of 2 stops at step {STEPS + 2}: lost contact with "
                     r"worker 1 \(/job:worker/replica:0/task:1: \w+Error: .+\)\. Restart every worker "
                     r"with the same command to resume", logs[0]), logs[0][-3000:]

    hp = helpers.tiny_transformer_hparams(**helpers.NO_DROPOUT, label_smoothing=0.0)
    one = Trainer(problem, "transformer", hp, data_dir, str(tmp_path / "one"),
                  train_steps=STEPS, eval_steps=0, random_seed=3)
    data = problem.dataset("train", data_dir, one.input_config, seed=1)
    batches = [{k: v.numpy() for k, v in b.items()} for b in data.take(2 * STEPS)]
    one.build(batches[0])
    initial = np.load(tmp_path / "initial0.npz")
    for i, variable in enumerate(one.model.trainable_variables):
        variable.assign(initial[f"arr_{i}"])
    step = one.train_step(data)
    losses = [float(step(_together(batches[i], batches[i + 1]))[0])
              for i in range(0, 2 * STEPS, 2)]

    first, second = np.load(tmp_path / "final0.npz"), np.load(tmp_path / "final1.npz")
    np.testing.assert_array_equal(first["arr_0"], second["arr_0"])   # the same loss ...
    np.testing.assert_allclose(first["arr_0"], losses, rtol=1e-4)
    for i, variable in enumerate(one.model.trainable_variables, start=1):
        np.testing.assert_array_equal(first[f"arr_{i}"], second[f"arr_{i}"])   # ... weights
        np.testing.assert_allclose(first[f"arr_{i}"], variable.numpy(), rtol=1e-3, atol=1e-5)

"""The cluster and the strategy: TF_CONFIG checked with one message per mistake, T2T's
distribution flags mapped or refused with what to write instead, the start-up line that
states the replicas and the batch of one update; two real worker processes
(MultiWorkerMirroredStrategy on 127.0.0.1, one CPU thread each) that update the weights as
one process does on both workers' batches together, skip a NaN step on both, resume from
the chief's checkpoint, evaluate alike, stop together on a signal to one, and name a lost
worker; and the --local_workers launcher."""
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import helpers

from t2tlike.errors import UserError
from t2tlike.training import distribute, local_workers
from t2tlike.training.trainer import Trainer, feature_spec


def _config(jobs, task_type="worker", index=0):
    return json.dumps({"cluster": jobs, "task": {"type": task_type, "index": index}})


def test_a_two_worker_tf_config_names_the_chief():
    workers = {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}
    first = distribute.parse_tf_config(_config(workers))
    second = distribute.parse_tf_config(_config(workers, index=1))
    assert first.num_workers == 2 and first.is_chief and first.address == "127.0.0.1:2222"
    assert not second.is_chief and second.address == "127.0.0.1:2223"
    with_chief = {"chief": ["[::1]:2000"], "worker": ["machine-b.local:2222"]}
    assert distribute.parse_tf_config(_config(with_chief, "chief")).is_chief
    assert not distribute.parse_tf_config(_config(with_chief)).is_chief
    assert distribute.parse_tf_config(_config(with_chief)).num_workers == 2


@pytest.mark.parametrize("text", ["", "  ", '{"cluster": {}}'])
def test_no_cluster_is_this_machine(text):
    assert distribute.parse_tf_config(text) is None


@pytest.mark.parametrize("text, message", [
    ("{cluster: }", "TF_CONFIG is not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}, "tasks": 1}',
     "unknown key(s) ['tasks']"),
    (_config({"worker": ["a:1", "b:1"]}, index=2), "task index 2 is out of range"),
    (_config({"worker": ["a:1"]}, index=-1), "task index -1 is out of range"),
    (_config({"worker": ["a:1"]}, index=True), "task index True is out of range"),
    (_config({"worker": ["a:1"]}, "chief"), "task type 'chief' is not in its cluster"),
    (_config({"master": ["a:1"]}, "master"), "task type 'master'; known: chief, worker"),
    (_config({"worker": ["a:1"], "ps": ["b:1"]}), "no parameter servers"),
    (_config({"worker": ["localhost"]}), "expected \"host:port\""),
    (_config({"worker": ["a:70000"]}), "port from 1 to 65535"),
    (_config({"worker": []}), "non-empty list"),
    (_config({"chief": ["a:1", "b:1"]}, "chief"), "several \"chief\" tasks"),
    ('{"cluster": {"worker": ["a:1"]}}', "no \"task\""),
])
def test_a_bad_tf_config_is_one_message(text, message):
    with pytest.raises(UserError, match=re.escape(message)):
        distribute.parse_tf_config(text)


def test_t2ts_flags_map_one_worker_and_point_to_tf_config_for_more():
    distribute.check_t2t_flags()   # T2T's defaults: this machine
    distribute.check_t2t_flags(worker_replicas=1, worker_id=0, worker_job="/job:localhost")
    with pytest.raises(UserError, match="set TF_CONFIG on each worker instead"):
        distribute.check_t2t_flags(worker_replicas=2, worker_id=1)
    with pytest.raises(UserError, match="set TF_CONFIG on each worker instead"):
        distribute.check_t2t_flags(master="grpc://10.0.0.1:2222")
    with pytest.raises(UserError, match="no parameter servers"):
        distribute.check_t2t_flags(ps_replicas=2)
    cluster = distribute.parse_tf_config(_config({"worker": ["a:1"]}))
    with pytest.raises(UserError, match="both TF_CONFIG and"):
        distribute.check_t2t_flags(worker_replicas=2, tf_config=cluster)
    with pytest.raises(UserError, match="TPUs are not available here: a TPU program is "
                                        "compiled for fixed shapes"):
        distribute.check_t2t_flags(use_tpu=True, tpu="grpc://10.0.0.2:8470")
    distribute.use_gpus(0)   # every GPU it sees
    distribute.use_gpus(1)   # T2T's default: on a machine without GPUs, its CPU
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(UserError, match="--worker_gpu=2, but this machine has 0 GPU"):
            distribute.use_gpus(2)


def test_one_worker_is_this_machine_and_a_workers_own_address_is_checked_first():
    one = distribute.parse_tf_config(_config({"worker": ["127.0.0.1:2222"]}))
    assert distribute.make_strategy(one).num_replicas_in_sync == 1
    assert distribute.worker_of(tf.distribute.get_strategy()) == distribute.Worker(0, 1, True)
    ports = local_workers.free_ports(2)
    here = distribute.parse_tf_config(_config({"worker": [f"127.0.0.1:{p}" for p in ports]}))
    distribute.check_own_address(here)   # on this machine, free
    with pytest.raises(UserError, match="expected one of auto, ring, nccl"):
        distribute.make_strategy(here, communication="mpi")
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports[0]))
        server.listen()
        with pytest.raises(UserError, match=re.escape(
                f"(worker 0), 127.0.0.1:{ports[0]}, has a port that is in use on this "
                "machine; choose a free port")):
            distribute.check_own_address(here)
    elsewhere = distribute.parse_tf_config(_config({"worker": ["192.0.2.1:2222", "a:1"]}))
    with pytest.raises(UserError, match=re.escape(
            "192.0.2.1:2222, is not an address of this machine: each worker's TF_CONFIG "
            "lists the whole cluster and names, in \"task\", its own entry.")):
        distribute.check_own_address(elsewhere)


def test_a_lost_worker_is_named_from_tensorflows_error():
    text = ("Graph execution error:\n\nDetected at node allgather defined at (most recent "
            "call last):\n  File \"x.py\", line 1, in f\n\nCollective ops is aborted by: "
            "recvmsg:Connection reset by peer\nAdditional GRPC error information from remote "
            "target /job:worker/replica:0/task:3 while calling RecvBuf")
    assert distribute.describe_failure(tf.errors.UnavailableError(None, None, text)) == (
        "lost contact with worker 3 (/job:worker/replica:0/task:3: UnavailableError: "
        "Collective ops is aborted by: recvmsg:Connection reset by peer)")
    assert distribute.describe_failure(tf.errors.DeadlineExceededError(None, None, "slow")) \
        == "a collective failed (DeadlineExceededError: slow)"


def test_the_start_up_line_states_replicas_and_the_batch_of_an_update():
    line = distribute.describe(tf.distribute.get_strategy(), 4096, batches_per_update=4)
    assert line == ("1 replica(s) (_DefaultDistributionStrategy); batch_size 4096 per replica "
                    "x 4 accumulated batches = 16384 per update")


def test_effective_batch_tokens_sets_the_accumulation_from_the_replicas():
    assert distribute.accumulate_steps(0, 4096, 2, accumulate=3) == 3   # off: as given
    assert distribute.accumulate_steps(16384, 4096, 1) == 4
    assert distribute.accumulate_steps(16384, 4096, 2) == 2
    assert distribute.accumulate_steps(16384, 4096, 4) == 1
    with pytest.raises(UserError, match=re.escape("not a whole multiple of batch_size x "
                                                  "replicas = 4096 x 3 = 12288; give a "
                                                  "multiple such as 12288")):
        distribute.accumulate_steps(16384, 4096, 3)
    with pytest.raises(UserError, match="give one of them"):
        distribute.accumulate_steps(16384, 4096, 1, accumulate=4)


def test_the_trainer_updates_once_per_effective_batch(tiny_data, tmp_path):
    from helpers import tiny_transformer_hparams
    from t2tlike.training.trainer import Trainer
    problem, data_dir = tiny_data
    hp = tiny_transformer_hparams()
    hp = hp.replace(effective_batch_tokens=3 * hp.batch_size).freeze()
    trainer = Trainer(problem, "transformer", hp, data_dir, str(tmp_path), train_steps=6)
    assert trainer.optimizer_config.batches_per_update == 3


STEPS = 4
WORKER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import tensorflow as tf
    from absl import logging
    logging.set_verbosity(logging.INFO)   # the resume and eval lines
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from t2tlike.training import distribute
    strategy = distribute.make_strategy(
        distribute.parse_tf_config(os.environ["TF_CONFIG"]), "ring", 300)
    sys.path.insert(0, {tests_dir!r})
    from helpers import NO_DROPOUT, TinyCopy, tiny_transformer_hparams
    from t2tlike.errors import Stopped
    from t2tlike.training.trainer import Trainer, feature_spec
    worker = distribute.worker_of(strategy)
    problem = TinyCopy()
    trainer = Trainer(problem, "transformer",
                      tiny_transformer_hparams(**NO_DROPOUT, label_smoothing=0.0),
                      {data_dir!r}, {out!r} + "/run", train_steps=1000, eval_steps=1,
                      local_eval_frequency=5, random_seed=3, strategy=strategy)
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

    def train():
        try:
            trainer.train()
        except Stopped as e:
            print("STOPPED", e.exit_status, e, flush=True)
    if worker.index == 1:   # a SIGTERM to this worker alone, during step 6
        trainer.tasks.on_step = lambda step: step == 6 and os.kill(os.getpid(), signal.SIGTERM)
    train()   # both resume from the chief's checkpoint, evaluate at step 5, stop after 6
    if worker.index == 1:   # lost: worker 0's next all-reduce fails
        os.kill(os.getpid(), signal.SIGKILL)
    train()
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
    """Then their training loop resumes from the chief's checkpoint, they evaluate alike,
    a SIGTERM to one stops both after the same step (the chief alone writes the run), and
    when one dies the other names it."""
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
    run = tmp_path / "run"
    for log in logs:   # both resume from the chief's checkpoint and evaluate alike
        assert f"Resumed from {run}/model-{STEPS} at step {STEPS}." in log, log[-3000:]
        assert "STOPPED 143 stopped by SIGTERM at step 6; the checkpoint of step 6 is saved " \
            f"in {run}." in log, log[-3000:]   # a signal to one stops both
    evals = [re.findall(r"eval at step 5: (.*)", log) for log in logs]
    assert len(evals[0]) == 1 and evals[0] == evals[1]
    assert f"Resumed from {run}/model-6 at step 6." in logs[0]
    assert re.search(r"STOPPED 1 worker 0 of 2 stops at step 6: lost contact with "
                     r"worker 1 \(/job:worker/replica:0/task:1: \w+Error: .+\)\. Restart every "
                     r"worker with the same command to resume", logs[0]), logs[0][-3000:]
    files = sorted(p.name for p in run.iterdir() if not p.name.startswith("events."))
    assert files == ["best", "checkpoint", "eval"] + [f"model-{n}.{part}" for n in (4, 5, 6) for part in
                                              ("data-00000-of-00001", "index")] + [
        "operative_config.gin"]   # the chief's alone, and one writer of summaries:
    assert len(list(run.glob("events.*"))) == 1 and len(os.listdir(run / "eval")) == 1

    hp = helpers.tiny_transformer_hparams(**helpers.NO_DROPOUT, label_smoothing=0.0)
    one = Trainer(problem, "transformer", hp, data_dir, str(tmp_path / "one"),
                  train_steps=STEPS, eval_steps=0, random_seed=3)
    data = problem.dataset("train", data_dir, one.input_config, seed=1)
    batches = [{k: v.numpy() for k, v in b.items()} for b in data.take(2 * STEPS)]
    both = [_together(batches[i], batches[i + 1]) for i in range(0, 2 * STEPS, 2)]
    # eagerly (traces cost more than these few steps): the weights are created by a first
    # call, the optimizer's at the first step
    one.model(both[0])
    initial = np.load(tmp_path / "initial0.npz")
    for i, variable in enumerate(one.model.trainable_variables):
        variable.assign(initial[f"arr_{i}"])
    step = one.train_step_fn()
    losses = [float(step(batch)[0]) for batch in both]

    first, second = np.load(tmp_path / "final0.npz"), np.load(tmp_path / "final1.npz")
    np.testing.assert_array_equal(first["arr_0"], second["arr_0"])   # the same loss ...
    np.testing.assert_allclose(first["arr_0"], losses, rtol=1e-4)
    for i, variable in enumerate(one.model.trainable_variables, start=1):
        np.testing.assert_array_equal(first[f"arr_{i}"], second[f"arr_{i}"])   # ... weights
        np.testing.assert_allclose(first[f"arr_{i}"], variable.numpy(), rtol=1e-3, atol=1e-5)


def test_the_launcher_gives_each_worker_its_task_and_says_how_they_ended(monkeypatch, capsys):
    """--local_workers: each copy gets its own TF_CONFIG on 127.0.0.1 and CPU threads, its
    lines come back prefixed, and the exit status is the first failure's, or the signal all
    stopped on."""
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert local_workers.worker_command(["--a=1"], 2) == [
        sys.executable, "-m", "t2tlike_cli.t2t_trainer", "--a=1",
        f"--intra_op_parallelism_threads={threads}", f"--inter_op_parallelism_threads={threads}"]
    assert local_workers.worker_command(["--intra_op_parallelism_threads=3"], 2)[3:] == [
        "--intra_op_parallelism_threads=3", f"--inter_op_parallelism_threads={threads}"]
    script = ("import json, os, sys; c = json.loads(os.environ['TF_CONFIG']); "
              "i = c['task']['index']; w = c['cluster']['worker']; "
              "print('task', i, 'of', len(w), w[i].startswith('127.0.0.1:'), len(set(w))); "
              "sys.exit(int(sys.argv[1 + i]))")
    monkeypatch.setattr(local_workers, "worker_command",
                        lambda flags, count: [sys.executable, "-c", script, *flags])
    assert local_workers.launch(["0", "3"], 2) == (3, None)
    err = capsys.readouterr().err
    assert "[worker 0] task 0 of 2 True 2\n" in err and "[worker 1] task 1 of 2 True 2\n" in err
    assert local_workers.launch(["0", "0"], 2) == (0, None)
    assert local_workers.launch(["143", "143"], 2) == (143, 15)   # both stopped on SIGTERM

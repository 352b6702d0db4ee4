"""The cluster and the strategy: TF_CONFIG checked with one message per mistake, T2T's
distribution flags mapped or refused with what to write instead, and the start-up line
that states the replicas and the batch of one update."""
import json
import re
import socket

import pytest
import tensorflow as tf

from t2tlike.errors import UserError
from t2tlike.training import distribute, local_workers


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

"""Where training runs: the cluster (TF_CONFIG, or T2T's flags) and the tf.distribute
strategy, chosen in one place.

  TF_CONFIG with several workers  -> synchronous data parallelism across machines
                                     (MultiWorkerMirroredStrategy, collective all-reduce)
  several local GPUs              -> MirroredStrategy
  one GPU                         -> OneDeviceStrategy
  otherwise                       -> the default strategy (this machine's CPU)

TF_CONFIG is TensorFlow's own description of a cluster, the same on every machine but
for the task:

  {"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},
   "task": {"type": "worker", "index": 0}}

`parse_tf_config` checks it and says what is wrong in one message. T2T's flags
(--worker_replicas, --worker_id, --worker_job, --master, --ps_replicas) described a
parameter-server job one address at a time; training here is synchronous all-reduce,
which needs every worker's address, so `check_t2t_flags` maps what maps (one worker) and
points to TF_CONFIG for the rest.
"""
import dataclasses
import json
import re

from t2tlike.errors import UserError

TASK_TYPES = ("chief", "worker", "evaluator")
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
            '"task": {"type": "worker", "index": 0}}\'')


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A checked TF_CONFIG: {task type: [addresses]} and this process's task."""
    jobs: dict
    task_type: str
    task_index: int

    @property
    def num_workers(self):
        return len(self.jobs.get("chief", [])) + len(self.jobs.get("worker", []))

    @property
    def is_chief(self):
        """The chief writes the run's files: the "chief" task, or worker 0 without one."""
        if "chief" in self.jobs:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def address(self):
        return self.jobs[self.task_type][self.task_index]


def parse_tf_config(text):
    """TF_CONFIG's text -> Cluster, or None when it is empty or has no cluster."""
    if not text or not text.strip():
        return None
    try:
        config = json.loads(text)
    except ValueError as error:
        raise UserError(f"TF_CONFIG is not valid JSON ({error}); expected e.g. "
                        f"{_EXAMPLE}") from None
    if not isinstance(config, dict):
        raise UserError(f"TF_CONFIG must be a JSON object with \"cluster\" and \"task\"; "
                        f"expected e.g. {_EXAMPLE}")
    unknown = sorted(set(config) - {"cluster", "task", "environment", "rpc_layer"})
    if unknown:
        raise UserError(f"TF_CONFIG has unknown key(s) {unknown}; it takes \"cluster\" and "
                        "\"task\" (and \"rpc_layer\", \"environment\").")
    jobs = config.get("cluster")
    if not jobs:
        return None
    if not isinstance(jobs, dict):
        raise UserError("TF_CONFIG's \"cluster\" must map task types to lists of "
                        f"\"host:port\" addresses; expected e.g. {_EXAMPLE}")
    if jobs.get("ps"):
        raise UserError("TF_CONFIG has \"ps\" tasks: training here is synchronous all-reduce "
                        "across workers (every worker holds the whole model), with no "
                        "parameter servers; list every machine under \"worker\".")
    for kind, addresses in jobs.items():
        if kind == "ps":
            continue
        if kind not in TASK_TYPES:
            raise UserError(f"TF_CONFIG's cluster has the task type {kind!r}; known: "
                            f"{', '.join(TASK_TYPES)}.")
        if not isinstance(addresses, list) or not addresses:
            raise UserError(f"TF_CONFIG's cluster[{kind!r}] must be a non-empty list of "
                            "\"host:port\" addresses.")
        for address in addresses:
            match = _ADDRESS.match(address) if isinstance(address, str) else None
            if not match or not 0 < int(match[2]) < 65536:
                raise UserError(f"TF_CONFIG's cluster[{kind!r}] has the address {address!r}; "
                                "expected \"host:port\" with a port from 1 to 65535.")
    if len(jobs.get("chief", [])) > 1:
        raise UserError("TF_CONFIG's cluster has several \"chief\" tasks; give at most one.")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task:
        raise UserError("TF_CONFIG has a cluster but no \"task\" {\"type\": ..., \"index\": "
                        "...}: say which of the cluster's tasks this process is.")
    kind, index = task["type"], task.get("index", 0)
    if kind not in jobs or kind == "ps":
        raise UserError(f"TF_CONFIG's task type {kind!r} is not in its cluster (which has "
                        f"{', '.join(sorted(jobs))}).")
    if not isinstance(index, int) or isinstance(index, bool) or \
            not 0 <= index < len(jobs[kind]):
        raise UserError(f"TF_CONFIG's task index {index!r} is out of range: cluster[{kind!r}] "
                        f"has {len(jobs[kind])} address(es), so 0 to {len(jobs[kind]) - 1}.")
    return Cluster({k: list(v) for k, v in jobs.items() if k != "ps"}, kind, index)


def check_t2t_flags(worker_replicas=1, worker_id=0, worker_job="/job:localhost", master="",
                    ps_replicas=0, tf_config=None):
    """T2T's distribution flags: one worker maps to nothing to do; anything else is one
    message that says what to write instead."""
    if ps_replicas:
        raise UserError(f"--ps_replicas={ps_replicas}: training here is synchronous "
                        "all-reduce across workers, with no parameter servers; set TF_CONFIG "
                        f"on each worker instead, e.g. {_EXAMPLE}")
    if worker_replicas > 1 or worker_id or master or worker_job not in ("", "/job:localhost"):
        if tf_config is not None:
            raise UserError("both TF_CONFIG and T2T's --worker_replicas/--worker_id/"
                            "--worker_job/--master are set; TF_CONFIG describes the cluster, "
                            "leave the flags out.")
        raise UserError("--worker_replicas/--worker_id/--worker_job/--master name this "
                        "worker's place but "
                        "not the other workers' addresses, which synchronous all-reduce "
                        f"needs: set TF_CONFIG on each worker instead, e.g. {_EXAMPLE} "
                        "(index 0 on the first machine, 1 on the second, ...).")


def local_strategy():
    """MirroredStrategy over all local GPUs when there are several, the one GPU, else the
    default strategy (this machine's CPU)."""
    import tensorflow as tf
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if len(gpus) == 1:
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    return tf.distribute.get_strategy()


def make_strategy(cluster):
    """The strategy for `cluster` (a Cluster or None). Several workers are refused: the
    trainer does not yet give the chief alone the run's files (checkpoints, summaries,
    hparams.json), which synchronous multi-worker training needs."""
    if cluster is not None and cluster.num_workers > 1:
        raise UserError(f"TF_CONFIG describes {cluster.num_workers} workers; training on "
                        "several machines is not available yet. Unset TF_CONFIG to train "
                        "on this machine (its GPUs are used through MirroredStrategy).")
    return local_strategy()


def accumulate_steps(effective_batch_tokens, batch_size, replicas, accumulate=0):
    """Batches per weight update: `accumulate` (optimizer_multistep_accumulate_steps), or,
    with effective_batch_tokens > 0, what keeps one update at that size on `replicas`."""
    if not effective_batch_tokens:
        return accumulate
    if accumulate > 1:
        raise UserError(f"both effective_batch_tokens={effective_batch_tokens} and "
                        f"optimizer_multistep_accumulate_steps={accumulate} are set; the "
                        "first sets the second from the replicas, give one of them.")
    per_step = batch_size * replicas
    if effective_batch_tokens < 0 or effective_batch_tokens % per_step:
        raise UserError(f"effective_batch_tokens={effective_batch_tokens} is not a whole "
                        f"multiple of batch_size x replicas = {batch_size} x {replicas} = "
                        f"{per_step}; give a multiple such as "
                        f"{max(1, round(effective_batch_tokens / per_step)) * per_step}.")
    return effective_batch_tokens // per_step


def describe(strategy, batch_size, batches_per_update=1):
    """One line for the logs: replicas and the tokens (or examples) of one update."""
    replicas = strategy.num_replicas_in_sync
    per_update = batch_size * replicas * batches_per_update
    accumulate = f" x {batches_per_update} accumulated batches" if batches_per_update > 1 \
        else ""
    return (f"{replicas} replica(s) ({type(strategy).__name__}); batch_size {batch_size} per "
            f"replica{accumulate} = {per_update} per update")

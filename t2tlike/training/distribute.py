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
import socket

from t2tlike.errors import UserError, first_line

TASK_TYPES = ("chief", "worker")
COMMUNICATIONS = ("auto", "ring", "nccl")
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
                    ps_replicas=0, tf_config=None, use_tpu=False, tpu=""):
    """T2T's distribution flags: one worker maps to nothing to do; anything else is one
    message that says what to write instead."""
    if use_tpu or tpu:
        raise UserError("--use_tpu/--tpu: TPUs are not available here: a TPU program is "
                        "compiled for fixed shapes, and the trainer's token-bucketed batches "
                        "change shape from step to step. Train on CPUs or GPUs (TF_CONFIG for "
                        "several machines).")
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


def use_gpus(count):
    """T2T's --worker_gpu: this worker uses its first `count` GPUs (0: every GPU it sees;
    1 on a machine without GPUs: its CPU, as in T2T). Call before TensorFlow runs an op."""
    if not count:
        return
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if count == 1 and not gpus:
        return
    if count > len(gpus):
        raise UserError(f"--worker_gpu={count}, but this machine has {len(gpus)} GPU(s); give "
                        f"at most {len(gpus)}, or 0 to use every GPU it has.")
    tf.config.set_visible_devices(gpus[:count], "GPU")


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


def make_strategy(cluster, communication="auto", timeout_seconds=600.0):
    """The strategy for `cluster` (a Cluster or None): MultiWorkerMirroredStrategy for
    several workers (collectives by `communication`: ring, nccl or auto; one collective
    waits at most `timeout_seconds`, 0: for ever), else `local_strategy()`. Call it before
    TensorFlow runs its first op."""
    if cluster is None or cluster.num_workers == 1:
        return local_strategy()
    if communication not in COMMUNICATIONS:
        raise UserError(f"--collective_communication={communication!r}; expected one of "
                        f"{', '.join(COMMUNICATIONS)}.")
    check_own_address(cluster)
    import tensorflow as tf
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=getattr(tf.distribute.experimental.CommunicationImplementation,
                               communication.upper()),
        timeout_seconds=timeout_seconds or None)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as e:   # TensorFlow ran an op before the strategy was made
        raise UserError(f"cannot start multi-worker training: {e}") from None


def check_own_address(cluster):
    """This task's address must be on this machine, its port free: one message if not
    (before TensorFlow's server fails with a long one)."""
    host, port = cluster.address.rsplit(":", 1)
    host, where = host.strip("[]"), f"TF_CONFIG's address of this task ({cluster.task_type} " \
        f"{cluster.task_index}), {cluster.address},"
    try:
        families = {info[0]: info[4][0] for info in socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM)}
    except socket.gaierror as e:
        raise UserError(f"{where} does not resolve ({e.strerror}): give a host name or IP "
                        "address of this machine.") from None
    if not any(_can_bind(family, (address, 0)) for family, address in families.items()):
        raise UserError(f"{where} is not an address of this machine: each worker's TF_CONFIG "
                        "lists the whole cluster and names, in \"task\", its own entry.")
    if not any(_can_bind(family, ("", int(port))) for family in families):
        raise UserError(f"{where} has a port that is in use on this machine; choose a free "
                        "port for it in every worker's TF_CONFIG.")


def _can_bind(family, address):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError:
            return False
    return True


@dataclasses.dataclass(frozen=True)
class Worker:
    """This process's place in the job: worker `index` of `count`; the chief writes the
    run's files."""
    index: int = 0
    count: int = 1
    is_chief: bool = True


def worker_of(strategy):
    """The Worker this process is under `strategy` (one of one without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return Worker()
    jobs = resolver.cluster_spec().as_dict()
    chiefs = len(jobs.get("chief", []))
    index = resolver.task_id + (chiefs if resolver.task_type == "worker" else 0)
    return Worker(index, chiefs + len(jobs.get("worker", [])),
                  bool(strategy.extended.should_checkpoint))


class Collectives:
    """Small all-reduces across the workers, for what they must agree on (when to save or
    stop; the eval totals). Each worker's values count once, whatever its replicas."""

    def __init__(self, strategy):
        import tensorflow as tf
        self.strategy = strategy
        local = len(strategy.extended.worker_devices)

        def make(op):
            def replica(values):
                ctx = tf.distribute.get_replica_context()
                if op == "max":   # all-reduce has no MAX
                    return tf.reduce_max(ctx.all_gather(values[tf.newaxis], axis=0), axis=0)
                first = tf.equal(ctx.replica_id_in_sync_group % local, 0)
                return ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                                      tf.where(first, values, tf.zeros_like(values)))

            @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
            def reduce(values):
                return strategy.experimental_local_results(
                    strategy.run(replica, args=(values,)))[0]
            return reduce
        self._sum, self._max = make("sum"), make("max")

    def sum(self, values):
        """The elementwise sum over workers of `values` (floats) -> list of floats."""
        return self._sum(_float64(values)).numpy().tolist()

    def max(self, values):
        """The elementwise maximum over workers of `values` (floats) -> list of floats."""
        return self._max(_float64(values)).numpy().tolist()


_TASK = re.compile(r"/job:(chief|worker)/replica:\d+/task:(\d+)")
_STATUS = re.compile(r"^(?!Graph execution error|Detected at node|\s)(.+)$", re.M)


def describe_failure(error):
    """A collective's error (tf.errors.OpError) -> what a person needs: the worker it lost
    when TensorFlow names one, and TensorFlow's own status line."""
    text = str(error)
    task, status = _TASK.search(text), _STATUS.search(text)
    what = status[1] if status else first_line(error)
    if not task:
        return f"a collective failed ({type(error).__name__}: {what})"
    return (f"lost contact with {task[1]} {task[2]} ({task[0]}: {type(error).__name__}: "
            f"{what})")


def _float64(values):
    import tensorflow as tf
    return tf.constant(list(values), tf.float64, shape=[len(values)])


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

"""Reading a MultiProblem's shards: one task's view, and the live-weighted task mixture.

`TaskData` is one task's shards seen as a Problem, so that Problem.dataset reads them
(parse, preprocess, length filter, batching) exactly as it reads a single problem's.

`dataset(multi, mode, ...)` is MultiProblem.dataset. With `task` (index or name) it reads
only that task's examples. Without it, TRAIN mode mixes the tasks. With the
InputConfig's `multiproblem_mixing` "example" (or "auto", which the trainer resolves for
its model) a task is drawn per example with probability proportional to
`mixture.weights[i]` (a TaskMixture's float32 tf.Variable, t2tlike/input_pipeline.py),
read for every draw, and the mixture is batched, so a batch mixes tasks. With "batch",
each task is read, filtered and batched on its own and each batch is drawn from one task
with those probabilities. Either way `mixture.set(p)` changes the mixture of an iterator
already running, from its next draw (a consumer that prefetches sees it later). EVAL and PREDICT
without `task` read every task's split in turn. Every example and batch carries `task_id`
([batch, 1] when batched).
"""
from data_generators.problem import ModeKeys, Problem
from t2tlike.errors import UserError


class TaskData(Problem):
    """Task `index`'s shards of MultiProblem `multi`, read by Problem.dataset (no generation)."""

    def __init__(self, multi, index):
        super().__init__()
        self.multi, self.index = multi, index

    @property
    def base_name(self):
        return self.multi.base_name   # what the "generate it with" hint names

    @property
    def name(self):
        return f"{self.multi.name} (task {self.index}: {self.multi.tasks[self.index].name})"

    def dataset_filename(self):
        return self.multi.task_filename(self.index)

    @property
    def has_inputs(self):
        return True

    def example_reading_spec(self):
        return self.multi.example_reading_spec()

    def preprocess_example(self, example, mode, hparams):
        return self.multi.preprocess_example(example, mode, hparams)


def dataset(multi, mode, data_dir, config=None, shuffle=None, repeat=None, batched=True,
            seed=None, max_records=-1, shard=None, split=None, task=None, mixture=None):
    """MultiProblem.dataset (see the module docstring); `max_records` and `shard` apply to
    each task, and task i reads with seed `seed + i`. `mixture`: the TaskMixture of the
    training mixture (None: a uniform one that nothing changes)."""
    import tensorflow as tf

    from t2tlike import input_pipeline
    config = input_pipeline.check_input_config(config, "MultiProblem.dataset")
    kwargs = dict(config=config, shuffle=shuffle, repeat=repeat, batched=batched,
                  max_records=max_records, shard=shard, split=split)
    if task is not None:
        return multi.task_data(task).dataset(mode, data_dir, seed=seed, **kwargs)
    views = [TaskData(multi, i) for i in range(multi.num_tasks)]
    seeds = [None if seed is None else seed + i for i in range(len(views))]
    if mode != ModeKeys.TRAIN:
        present = [(v, s) for v, s in zip(views, seeds)
                   if _has_files(v, data_dir, split or mode)]
        if not present:
            views[0].data_files(data_dir, split or mode)   # raises the usual message
        datasets = [v.dataset(mode, data_dir, seed=s, **kwargs) for v, s in present]
        ds = datasets[0]
        for other in datasets[1:]:
            ds = ds.concatenate(other)
        return ds
    by_example = batched and config.multiproblem_mixing != input_pipeline.MIX_BATCH
    if by_example:   # choose a task per example, then batch the mixture
        kwargs["batched"] = False
    datasets = [v.dataset(mode, data_dir, seed=s, **kwargs) for v, s in zip(views, seeds)]
    if mixture is None:
        mixture = input_pipeline.TaskMixture(multi.num_tasks, multi.task_names)
    elif mixture.num_tasks != multi.num_tasks:
        raise UserError(f"multi-problem {multi.name} has {multi.num_tasks} tasks but the "
                        f"task mixture has {mixture.num_tasks} weights.")
    choices = task_choices(mixture.weights, seed)
    ds = tf.data.Dataset.choose_from_datasets(datasets, choices, stop_on_empty_dataset=False)
    if by_example:
        ds = multi.batch(ds, config)
    # No prefetch after the choice (each task's pipeline prefetches its own batches), so
    # a new weight applies from the next batch (example mixing: from the next examples).
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False
    return ds.with_options(options)


def task_choices(weights, seed):
    """An endless dataset of task indices, index i with probability w_i / sum(w), where w
    is read from the variable `weights` for every element (negative or non-finite weights
    count as 0; all 0 means uniform)."""
    import tensorflow as tf
    resolution = 1 << 24

    def choose(x):
        w = tf.cast(weights.read_value(), tf.float64)
        w = tf.where(tf.math.is_finite(w) & (w > 0), w, tf.zeros_like(w))
        w = tf.where(tf.reduce_sum(w) > 0, w, tf.ones_like(w))
        cumulative = tf.math.cumsum(w)
        u = tf.cast(tf.math.floormod(x, resolution), tf.float64) / resolution * cumulative[-1]
        # The first task whose cumulative weight exceeds u (u < total, so one exists).
        return tf.argmax(tf.cast(cumulative > u, tf.int32), output_type=tf.int64)

    return tf.data.Dataset.random(seed=seed).map(choose)


def _has_files(view, data_dir, mode_or_split):
    try:
        return bool(view.data_files(data_dir, mode_or_split))
    except UserError:
        return False

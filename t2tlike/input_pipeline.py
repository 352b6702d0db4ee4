"""The input pipeline's settings and its batching by token count, with length bucketing.

`InputConfig` holds everything the data side reads (batch size, length limits, bucket
spacing, multi-task mixing). It is built once from the model hparams, at the boundary
(`Problem.input_config(hparams)`, which resolves the problem's `max_length` hook), and is
all that `Problem.dataset` receives: the data side never sees model hparams.

`batch_size` counts tokens, as in T2T: an example goes to the smallest bucket whose
boundary holds its longest feature, and each bucket's batch holds about `batch_size`
tokens (`batch_size // boundary` sequences). Fewer, tighter buckets mean less padding;
the boundaries grow geometrically from `min_length` by `length_bucket_step` (T2T's
defaults 8 and 1.1; Problem.dataset passes the config's `min_length_bucket` and
`length_bucket_step`). The remaining argument is gin-configurable:

    batch_by_tokens.drop_remainder = True
"""
import dataclasses
import numbers

import gin
import tensorflow as tf

from t2tlike.errors import UserError


MIX_AUTO, MIX_BATCH, MIX_EXAMPLE = "auto", "batch", "example"   # multiproblem_mixing


def mixing_mode(value):
    """The checked value of hparam multiproblem_mixing: "batch" (every training batch holds
    one task), "example" (each example's task is drawn, so a batch mixes tasks) or "auto"
    (the trainer picks: "batch" for a model with a target head per task, else "example";
    the data side, not knowing the model, reads "auto" as "example")."""
    if value not in (MIX_AUTO, MIX_BATCH, MIX_EXAMPLE):
        raise UserError(f"multiproblem_mixing must be {MIX_AUTO!r} (the trainer picks), "
                        f"{MIX_BATCH!r} (one task per batch) or {MIX_EXAMPLE!r} (tasks mixed "
                        f"within a batch); got {value!r}.")
    return value


class InputConfigError(UserError, AttributeError):
    """A read of a field that InputConfig does not have."""


@dataclasses.dataclass(frozen=True)
class InputConfig:
    """What the input pipeline reads; frozen, checked when built.

    batch_size                tokens per batch (T2T's batch_size), >= 1
    max_length                longest example kept for training (and for eval with
                              eval_drop_long_sequences), in tokens; also the last bucket's
                              boundary. 0 means batch_size, as for the max_length hparam.
    min_length_bucket         the first bucket boundary, >= 1
    length_bucket_step        the growth factor between bucket boundaries, > 1.0
    eval_drop_long_sequences  eval also drops examples longer than max_length
    multiproblem_mixing       "batch" (a training batch holds one task of a multi-problem),
                              "example" (tasks mixed within a batch) or "auto" (read as
                              "example"; the trainer resolves it for its model)
    """

    batch_size: int = 4096
    max_length: int = 0
    min_length_bucket: int = 8
    length_bucket_step: float = 1.1
    eval_drop_long_sequences: bool = False
    multiproblem_mixing: str = MIX_AUTO

    @classmethod
    def from_hparams(cls, hparams, max_length=None):
        """The config of model `hparams` (an HParams holding basic_params1's input keys).

        `max_length`: the resolved limit (Problem.input_config passes the problem's
        max_length(hparams)); None takes hparams.max_length.
        """
        if isinstance(hparams, InputConfig):
            raise TypeError("InputConfig.from_hparams expects model hparams (an HParams); "
                            "got an InputConfig, which is already built: use it as it is.")
        return cls(batch_size=hparams.batch_size,
                   max_length=hparams.max_length if max_length is None else max_length,
                   min_length_bucket=hparams.min_length_bucket,
                   length_bucket_step=hparams.length_bucket_step,
                   eval_drop_long_sequences=hparams.eval_drop_long_sequences,
                   multiproblem_mixing=hparams.multiproblem_mixing)

    def __post_init__(self):
        _check_int("batch_size", self.batch_size, 1, "4096")
        _check_int("max_length", self.max_length, 0, "256")
        _check_int("min_length_bucket", self.min_length_bucket, 1, "8")
        step = self.length_bucket_step
        if not _is_number(step) or not step > 1.0:
            raise UserError(f"length_bucket_step must be > 1.0 (the factor by which "
                            f"length-bucket boundaries grow); got {step!r}. Set it with "
                            "--hparams=length_bucket_step=1.1 (T2T's default).")
        if not isinstance(self.eval_drop_long_sequences, bool):
            raise UserError("eval_drop_long_sequences must be True or False; got "
                            f"{self.eval_drop_long_sequences!r}.")
        mixing_mode(self.multiproblem_mixing)
        if not self.max_length:   # the max_length hparam's meaning of 0
            object.__setattr__(self, "max_length", self.batch_size)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        fields = ", ".join(f.name for f in dataclasses.fields(InputConfig))
        raise InputConfigError(
            f"InputConfig has no field {name!r}; its fields: {fields}. The data side "
            "(Problem.dataset, preprocess_example) receives this config, not the model "
            "hparams: read model settings in the model, or give the problem its own "
            "attribute.")


class TaskMixture:
    """The live sampling weights of a multi-problem's training mixture: `weights`, a
    float32 tf.Variable [num_tasks] that the training dataset reads for every batch, so a
    new assignment changes the mixture of a running iterator from its next batch.

    The trainer creates one (uniform at first), hands it to `Problem.dataset(...,
    mixture=...)`, sets it from the task schedule (`set`) and saves `weights` in its
    checkpoints.
    """

    def __init__(self, num_tasks, names=None):
        self.names = list(names) if names is not None else [f"task{i}" for i in
                                                            range(num_tasks)]
        with tf.init_scope():
            self.weights = tf.Variable([1.0 / num_tasks] * num_tasks, dtype=tf.float32,
                                       trainable=False, name="task_weights")

    @property
    def num_tasks(self):
        return int(self.weights.shape[0])

    def set(self, weights):
        """Checks `weights` (one finite value >= 0 per task, not all 0), normalises them to
        sum to 1 and assigns them."""
        import numpy as np
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.num_tasks,) or not np.all(np.isfinite(w)) or np.any(w < 0) \
                or w.sum() <= 0:
            raise ValueError(f"task weights must be {self.num_tasks} finite values >= 0, not "
                             f"all 0 (tasks {self.names}); got {list(np.ravel(w))}.")
        self.weights.assign((w / w.sum()).astype(np.float32))

    def describe(self):
        return "task probs: " + ", ".join(f"{n} {p:.3f}"
                                          for n, p in zip(self.names, self.weights.numpy()))


def check_input_config(config, where="Problem.dataset"):
    """`config` itself, InputConfig() for None; a TypeError for anything else (such as
    model hparams, which the data side does not take)."""
    if config is None:
        return InputConfig()
    if not isinstance(config, InputConfig):
        raise TypeError(f"{where} expects an InputConfig (t2tlike.input_pipeline); got "
                        f"{type(config).__name__}. Build it once from the model hparams "
                        "with problem.input_config(hparams).")
    return config


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(name, value, minimum, example):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}; got {value!r}. Set it with "
                        f"--hparams={name}={example}, for example.")


def bucket_boundaries(max_length, min_length=8, length_bucket_step=1.1):
    """Geometric boundaries min_length, ..., < max_length (T2T's spacing)."""
    if length_bucket_step <= 1.0:
        raise ValueError(f"length_bucket_step must be > 1.0, got {length_bucket_step}")
    x, bounds = min_length, []
    while x < max_length:
        bounds.append(x)
        x = max(x + 1, int(x * length_bucket_step))
    return bounds


def example_length(example):
    """The longest sequence feature of an (unbatched) example."""
    lengths = [tf.shape(v)[0] for k, v in example.items()
               if k in ("inputs", "targets") and v.shape.rank and v.shape.rank >= 1]
    return tf.reduce_max(tf.stack(lengths)) if lengths else tf.constant(1)


@gin.configurable(denylist=["dataset", "batch_size", "max_length"])
def batch_by_tokens(dataset, batch_size, max_length, min_length=8, length_bucket_step=1.1,
                    drop_remainder=False):
    """Buckets examples by length into batches of about `batch_size` tokens each.

    dataset: unbatched dicts of 1-D int sequences ("inputs", "targets") and scalars.
    Returns dicts of [batch, padded_length] tensors, padded with 0.
    """
    max_length = max(int(max_length), 1)
    bounds = bucket_boundaries(max_length + 1, min_length, length_bucket_step)
    batch_sizes = [max(1, batch_size // b) for b in bounds] + [max(1, batch_size // max_length)]
    return dataset.bucket_by_sequence_length(
        element_length_func=example_length,
        bucket_boundaries=[b + 1 for b in bounds],   # boundaries are exclusive upper bounds
        bucket_batch_sizes=batch_sizes,
        drop_remainder=drop_remainder,
        pad_to_bucket_boundary=False)


def filter_by_max_length(dataset, max_length):
    """Drops examples whose inputs or targets are longer than `max_length` (0 keeps all)."""
    if not max_length:
        return dataset
    return dataset.filter(lambda ex: example_length(ex) <= max_length)


def padding_fraction(batch):
    """Fraction of pad positions in a batch's targets (for logs and benchmarks)."""
    targets = batch["targets"]
    return 1.0 - tf.reduce_mean(tf.cast(tf.not_equal(targets, 0), tf.float32))

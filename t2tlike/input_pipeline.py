"""Batching variable-length examples by token count, with length bucketing.

`batch_size` counts tokens, as in T2T: an example goes to the smallest bucket whose
boundary holds its longest feature, and each bucket's batch holds about `batch_size`
tokens (`batch_size // boundary` sequences). Fewer, tighter buckets mean less padding;
the boundaries grow geometrically from `min_length` by `length_bucket_step` (T2T's
defaults 8 and 1.1; Problem.dataset passes the hparams `min_length_bucket` and
`length_bucket_step`). The remaining argument is gin-configurable:

    batch_by_tokens.drop_remainder = True
"""
import gin
import tensorflow as tf


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

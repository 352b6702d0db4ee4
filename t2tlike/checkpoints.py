"""Strict restores: a model's weights come from a checkpoint whole, or not at all.

`tf.train.Checkpoint(model=model).restore(path)` alone is partial: a model built with
other hparams (one layer more, or fewer) restores what matches and leaves the rest at
its random initial values, silently. `restore_model` refuses that with one message
naming the mismatch: the model's variables the checkpoint lacks (or the checkpoint's
that the model lacks, by count), or the first shape that differs. `restore_run` does the
same for a trainer's whole state on resume, and names a checkpoint that cannot be read
together with the previous one to fall back to.
"""
import re

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from t2tlike.errors import UserError

_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_HINT = ("It was written by another model or other hparams: pass the run's own "
         "--hparams_set and --hparams (its hparams.json), or another checkpoint.")


class CheckpointMismatchError(UserError):
    """A checkpoint does not hold exactly the variables of the model it is restored into."""


def saved_variable_count(path, root="model"):
    """How many variables the checkpoint at prefix `path` holds under its `root` object."""
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(path).get_tensor(_GRAPH_KEY))
    todo = [c.node_id for c in graph.nodes[0].children if c.local_name == root]
    seen = set()
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += [c.node_id for c in graph.nodes[node].children]
    return sum(any(a.name == "VARIABLE_VALUE" for a in graph.nodes[n].attributes) for n in seen)


def _saved_model_variables(model):
    """The model's variables a checkpoint holds (Keras's dropout seed states are not
    saved)."""
    return [v for v in model.variables if not v.path.endswith("seed_generator_state")]


def restore_model(model, path):
    """Restores the built `model` from checkpoint prefix `path` (written by
    tf.train.Checkpoint(model=..., ...), e.g. the trainer's); raises
    CheckpointMismatchError unless every variable of the model, and no other, was in it."""
    status = _restore(tf.train.Checkpoint(model=model), path, "model", _HINT)
    saved, own = saved_variable_count(path), len(_saved_model_variables(model))
    if saved != own:
        raise CheckpointMismatchError(f"checkpoint {path} holds {saved} model variables, this "
                                      f"model has {own}. {_HINT}")
    status.expect_partial()   # the optimizer's slots and the step stay unread
    return path


def restore_run(checkpoint, path, previous=None):
    """Restores a trainer's `checkpoint` (model, optimizer, step, ...; built) from prefix
    `path`, every object of it; a checkpoint that cannot be read raises a UserError naming
    it and `previous` (the run's checkpoint before it), to fall back to."""
    fallback = (f" The run's previous checkpoint is {previous}: to resume from it, delete "
                f"{path}.* and run again." if previous else "")
    _restore(checkpoint, path, "run", "It was written by another model or other hparams.",
             fallback)
    return path


def _restore(checkpoint, path, what, hint, fallback=""):
    try:
        status = checkpoint.restore(path)
    except (ValueError, tf.errors.InvalidArgumentError) as e:   # a shape differs
        first = str(e).strip().splitlines()[0]
        raise CheckpointMismatchError(f"checkpoint {path} does not fit this {what}: {first} "
                                      f"{hint}") from None
    except tf.errors.OpError as e:   # truncated, garbled, missing files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"checkpoint {path} cannot be read ({first}): it is truncated or "
                        f"corrupt.{fallback}") from None
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        names = re.findall(r"path=([^,\s]+)", str(e))
        missing = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise CheckpointMismatchError(f"checkpoint {path} lacks {len(names) or 'some'} of this "
                                      f"{what}'s variables ({missing}). {hint}") from None
    return status

"""Strict restores: a model's weights come from a checkpoint whole, or not at all.

`tf.train.Checkpoint(model=model).restore(path)` alone is partial: a model built with
other hparams (one layer more, or fewer) restores what matches and leaves the rest at
its random initial values, silently. `restore_model` refuses that with one message
naming the mismatch: the model's variables the checkpoint lacks (or the checkpoint's
that the model lacks, by count), or the first shape that differs. `restore_run` does the
same for a trainer's whole state on resume, and names a checkpoint that cannot be read
together with the previous one to fall back to. `restore_data_position` puts a training
input iterator back where the run's checkpoint left it (saved under the key `data`).
"""
import re

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from t2tlike.errors import UserError, first_line

_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_HINT = ("It was written by another model or other hparams: pass the run's own "
         "--hparams_set and --hparams (its hparams.json), or another checkpoint.")


class CheckpointMismatchError(UserError):
    """A checkpoint does not hold exactly the variables of the model it is restored into."""


DATA = "data"   # the checkpoint key of the training input's iterator


def _object_graph(path):
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(path).get_tensor(_GRAPH_KEY))
    return graph


def saved_variable_count(path, root="model"):
    """How many variables the checkpoint at prefix `path` holds under its `root` object."""
    graph = _object_graph(path)
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
    status = _restore(checkpoint, path, "run",
                      "It was written by another model or other hparams.", fallback)
    status.expect_partial()   # the input position is restored on its own
    return path


def restore_data_position(iterator, path):
    """Restores the tf.data `iterator` (a fresh one of the run's input pipeline) to the
    position saved in checkpoint `path`; returns why it could not (the checkpoint holds no
    position, or the pipeline no longer matches it, e.g. regenerated data), or None. On
    failure the iterator must be replaced by a fresh one."""
    if not any(c.local_name == DATA for c in _object_graph(path).nodes[0].children):
        return "the checkpoint holds no input position"
    try:
        status = tf.train.Checkpoint(**{DATA: iterator}).restore(path)
        status.assert_existing_objects_matched().expect_partial()   # the rest: restore_run
    except (tf.errors.OpError, ValueError, AssertionError) as e:
        return f"the input pipeline does not match the saved position ({first_line(e)})"
    return None


def can_save_position(iterator):
    """Why the input `iterator` cannot be checkpointed (a distributed iterator, a pipeline
    with Python generators), or None."""
    if not isinstance(iterator, tf.__internal__.tracking.Trackable):
        return "a multi-replica input iterator cannot be checkpointed"
    try:
        iterator._serialize_to_tensors()   # the state a save writes
    except (tf.errors.OpError, ValueError, TypeError) as e:
        return f"its pipeline cannot be serialized ({first_line(e)})"
    return None


def _restore(checkpoint, path, what, hint, fallback=""):
    try:
        status = checkpoint.restore(path)
    except (ValueError, tf.errors.InvalidArgumentError) as e:   # a shape differs
        raise CheckpointMismatchError(f"checkpoint {path} does not fit this {what}: "
                                      f"{first_line(e)} "
                                      f"{hint}") from None
    except tf.errors.OpError as e:   # truncated, garbled, missing files
        raise UserError(f"checkpoint {path} cannot be read ({first_line(e)}): it is truncated or "
                        f"corrupt.{fallback}") from None
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        names = re.findall(r"path=([^,\s]+)", str(e))
        missing = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise CheckpointMismatchError(f"checkpoint {path} lacks {len(names) or 'some'} of this "
                                      f"{what}'s variables ({missing}). {hint}") from None
    return status

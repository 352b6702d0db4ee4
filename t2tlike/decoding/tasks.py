"""Decoding one task of a multi-problem: its index, its encoders, its kind of targets.

A multi-problem (data_generators/multi_problem.py) trains tasks on one shared
vocabulary in which task i's tag is a reserved id; every input starts with its task's
tag. To decode task i, each input line gets that tag in front (`TaggedInputs`), the
targets are decoded with the task's own encoder (a class-label encoder for a
classification task) and, for a model with a head per task (MultiModel), a
classification task's outputs are class ids kept whole.

The problem and its encoders are passed in (t2tlike does not import data_generators):
what is used of them is `problem.task_index(task)`, `problem.get_feature_encoders(
data_dir)`, `problem.task_feature_encoders(index, data_dir)` and the inputs encoder's
`tag_id(index)`.
"""
from t2tlike.errors import UserError


def task_index(problem, task):
    """The index of `task` (None, an index, or a task's name or index as text, as
    --task gives it) in multi-problem `problem`; None for None."""
    if task is None:
        return None
    if not hasattr(problem, "task_index"):
        raise UserError(f"--task={task}: problem {problem.name} is not a multi-problem "
                        "(join problems with '+', e.g. --problem=a+b); drop --task.")
    if isinstance(task, str) and task.isdigit():
        task = int(task)
    return problem.task_index(task)


class TaggedInputs:
    """An inputs encoder that puts a task's tag id in front of every encoded line, unless
    the line already starts with a tag (`<task:NAME> text`). `base` is the shared
    vocabulary's encoder, whose tag ids follow its text ids (tag_id(0) is the first);
    everything but `encode` is the base encoder's."""

    def __init__(self, base, tag_id):
        self.base, self.tag = base, tag_id

    def encode(self, text):
        """text -> ids [length], starting with a tag id."""
        ids = self.base.encode(text)
        tagged = ids and ids[0] >= self.base.tag_id(0)
        return ids if tagged else [self.tag] + ids

    def tf_encode(self, strings):
        """As `encode`, in the graph: strings [batch] -> ragged ids [batch, (length)]."""
        import tensorflow as tf
        ids = tf.cast(self.base.tf_encode(strings), tf.int32)
        tagged = tf.reduce_any(ids[:, :1] >= self.base.tag_id(0), axis=1)        # [batch]
        untagged = tf.cast(~tagged, tf.int64)
        tag = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(untagged)], tf.constant(self.tag, tf.int32)), untagged)
        return tf.concat([tag, ids], axis=1)

    def __getattr__(self, name):
        return getattr(self.base, name)


def feature_encoders(problem, data_dir, task=None):
    """{feature: encoder} for decoding `problem`, or its task `task` (an index): the
    task's own targets encoder, and inputs tagged with the task's tag."""
    if task is None:
        return problem.get_feature_encoders(data_dir)
    encoders = dict(problem.task_feature_encoders(task, data_dir))
    encoders["inputs"] = TaggedInputs(encoders["inputs"], encoders["inputs"].tag_id(task))
    return encoders


def is_class_label(model, task=None):
    """Whether task `task`'s outputs are class ids for `model` (a model with a head per
    task says it per task); None (let the Decoder ask the model's target modality) for
    no task or a model without per-task heads."""
    if task is None or not hasattr(model, "task_is_class_label"):
        return None
    return model.task_is_class_label(task)

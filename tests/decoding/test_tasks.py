"""t2tlike/decoding/tasks.py: decoding one task of a multi-problem, with stand-in problems
and encoders (t2tlike does not know data_generators' classes)."""
import pytest

from t2tlike.decoding import tasks
from t2tlike.errors import UserError

TEXT_IDS = 10          # the shared vocabulary's text ids are 0..9; task i's tag is 10 + i


class _SharedEncoder:
    """Words "w<n>" -> id n; "<task:i>" -> the tag id of task i."""

    def encode(self, text):
        return [TEXT_IDS + int(w[6:-1]) if w.startswith("<task:") else int(w[1:])
                for w in text.split()]

    def decode(self, ids):
        return " ".join(f"w{i}" for i in ids)

    def tag_id(self, index):
        return TEXT_IDS + index


class _LabelEncoder:
    def decode(self, ids):
        return ["neg", "pos"][ids[0]]


class _MultiProblem:
    name = "a_plus_b"
    task_names = ["copy", "sentiment"]

    def task_index(self, task):
        if task in self.task_names:
            return self.task_names.index(task)
        if task in range(len(self.task_names)):
            return task
        raise UserError(f"no task {task!r}")

    def get_feature_encoders(self, data_dir=None):
        return {"inputs": _SharedEncoder(), "targets": _SharedEncoder()}

    def task_feature_encoders(self, index, data_dir=None):
        encoders = self.get_feature_encoders(data_dir)
        if index == 1:
            encoders["targets"] = _LabelEncoder()
        return encoders


class _PlainProblem:
    name = "plain"

    def get_feature_encoders(self, data_dir=None):
        return {"inputs": "in", "targets": "out"}


def test_task_index_takes_names_and_indices_as_text():
    problem = _MultiProblem()
    assert tasks.task_index(problem, None) is None
    assert tasks.task_index(problem, "sentiment") == 1
    assert tasks.task_index(problem, "1") == 1 and tasks.task_index(problem, 0) == 0
    with pytest.raises(UserError, match="no task 'sentimnet'"):
        tasks.task_index(problem, "sentimnet")


def test_task_on_a_problem_that_is_not_a_multi_problem_is_a_user_error():
    with pytest.raises(UserError, match="--task=copy: problem plain is not a multi-problem"):
        tasks.task_index(_PlainProblem(), "copy")


def test_tagged_inputs_put_the_tag_in_front_unless_the_line_has_one():
    tagged = tasks.TaggedInputs(_SharedEncoder(), tag_id=TEXT_IDS + 1)
    assert tagged.encode("w3 w4") == [11, 3, 4]
    assert tagged.encode("<task:0> w3") == [10, 3]          # the line's own tag wins
    assert tagged.encode("") == [11]
    assert tagged.decode([3, 4]) == "w3 w4"                  # the rest is the base encoder's


def test_feature_encoders_of_a_task():
    problem = _MultiProblem()
    plain = tasks.feature_encoders(problem, "data")
    assert plain["inputs"].encode("w3") == [3]
    encoders = tasks.feature_encoders(problem, "data", task=1)
    assert encoders["inputs"].encode("w3") == [11, 3]
    assert isinstance(encoders["targets"], _LabelEncoder)
    assert tasks.feature_encoders(_PlainProblem(), "data") == {"inputs": "in", "targets": "out"}


def test_is_class_label_asks_a_model_with_heads_per_task():
    class Heads:
        def task_is_class_label(self, task):
            return task == 1

    assert tasks.is_class_label(Heads(), 1) is True
    assert tasks.is_class_label(Heads(), 0) is False
    assert tasks.is_class_label(Heads(), None) is None
    assert tasks.is_class_label(object(), 1) is None          # the Decoder asks the modality

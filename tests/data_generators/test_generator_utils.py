"""data_generators/generator_utils.py: T2T shard names, atomic writing, skipping, shuffling,
and a re-run after a kill at any point giving the records of a clean run."""
import json
import os

import pytest

import helpers
from data_generators import generator_utils
from t2tlike.errors import UserError


def cases(n, fail_at=None, exc=RuntimeError):
    for i in range(n):
        if i == fail_at:
            raise exc(f"source broke at case {i}")
        yield {"inputs": [i + 2, 1], "targets": [i + 3, 1]}


def test_t2t_shard_names(tmp_path):
    assert generator_utils.sharded_name("p-train", 3, 10) == "p-train-00003-of-00010"
    paths = generator_utils.shard_filepaths(str(tmp_path), "my_problem", "train", 3)
    assert [os.path.basename(p) for p in paths] == [
        "my_problem-train-00000-of-00003", "my_problem-train-00001-of-00003",
        "my_problem-train-00002-of-00003"]
    assert all(os.path.dirname(p) == str(tmp_path) for p in paths)
    assert generator_utils.train_data_filenames("p", "d", 1) == ["d/p-train-00000-of-00001"]
    assert generator_utils.dev_data_filenames("p", "d", 1) == ["d/p-dev-00000-of-00001"]
    assert generator_utils.test_data_filenames("p", "d", 1) == ["d/p-test-00000-of-00001"]


def test_generate_files_writes_round_robin(tmp_path):
    paths = generator_utils.shard_filepaths(str(tmp_path / "new_dir"), "p", "train", 3)
    assert generator_utils.generate_files(cases(10), paths) == 10
    counts = [len(helpers.read_records(p)) for p in paths]
    assert counts == [4, 3, 3]
    first = helpers.read_records(paths[0])
    assert first[0] == {"inputs": [2, 1], "targets": [3, 1]}
    assert first[1] == {"inputs": [5, 1], "targets": [6, 1]}       # case 3 -> shard 0
    assert helpers.temp_files(tmp_path) == []


def test_generate_files_max_cases(tmp_path):
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "dev", 2)
    assert generator_utils.generate_files(cases(100), paths, max_cases=7) == 7
    assert sum(len(helpers.read_records(p)) for p in paths) == 7


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_generator_failing_midway_leaves_no_files(tmp_path, exc):
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "train", 3)
    with pytest.raises(exc, match="source broke at case 5"):
        generator_utils.generate_files(cases(10, fail_at=5, exc=exc), paths)
    assert os.listdir(tmp_path) == []          # neither final nor temporary files


def test_a_completed_group_is_skipped(tmp_path):
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "train", 2)
    assert generator_utils.generate_files(cases(3), paths) == 3
    assert json.loads((tmp_path / ".p-train.complete").read_text()) == {
        "files": ["p-train-00000-of-00002", "p-train-00001-of-00002"], "records": [2, 1],
        "shuffled": False}
    for p in paths:
        with open(p, "wb") as f:
            f.write(b"already generated")
    consumed = []

    def gen():
        consumed.append(True)
        yield from cases(3)

    assert generator_utils.generate_files(gen(), paths) == 0
    assert consumed == []                      # the source is not even read
    for p in paths:
        with open(p, "rb") as f:
            assert f.read() == b"already generated"


@pytest.mark.parametrize("present", [1, 2])
def test_shards_without_a_completion_marker_are_generated_again(tmp_path, present):
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "train", 2)
    for p in paths[:present]:
        with open(p, "wb") as f:
            f.write(b"stale")
    assert generator_utils.generate_files(cases(4), paths) == 4
    assert [len(helpers.read_records(p)) for p in paths] == [2, 2]


@pytest.mark.parametrize("where", ["writing", "shuffling"])
def test_a_full_disk_is_one_message_and_leaves_nothing(tmp_path, monkeypatch, where):
    import errno

    import tensorflow as tf
    real_writer = tf.io.TFRecordWriter

    class FillingWriter(real_writer):
        written = 0

        def write(self, record):
            type(self).written += 1
            if type(self).written == 5:
                raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
            super().write(record)

    def full(path, name, seed):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    if where == "writing":
        monkeypatch.setattr(tf.io, "TFRecordWriter", FillingWriter)
    else:
        monkeypatch.setattr(generator_utils, "_shuffle_file", full)
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "train", 2)
    with pytest.raises(UserError, match=r"could not write p-train-00000-of-00002\.\.\. in .*: "
                                        r".*No space left on device.*run t2t-datagen again"):
        generator_utils.generate_files(cases(10), paths, shuffle=True)
    assert os.listdir(tmp_path) == []


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it (the code's cleanup for errors does not run)."""


def _kill_at(monkeypatch, function, when):
    """Makes generator_utils' `function` ("os.replace" or "_shuffle_file") die on call
    number `when`."""
    calls = []
    module, name = ((generator_utils.os, "replace") if function == "os.replace"
                    else (generator_utils, function))
    real = getattr(module, name)

    def dying(*args, **kwargs):
        calls.append(args)
        if len(calls) == when:
            raise Killed()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)


@pytest.mark.parametrize("function, when", [
    ("_shuffle_file", 2),   # one temporary file shuffled, two not
    ("os.replace", 4),      # all shuffled (replaces 1-3), none renamed into place yet
    ("os.replace", 5),      # during the renames into place: one shard renamed
    ("os.replace", 7),      # every shard renamed, the marker not written
])
def test_a_rerun_after_a_kill_gives_the_records_of_a_clean_run(tmp_path, monkeypatch,
                                                               function, when):
    clean = generator_utils.shard_filepaths(str(tmp_path / "clean"), "p", "train", 3)
    generator_utils.generate_files(cases(30), clean, shuffle=True)
    expected = [helpers.read_records(p) for p in clean]
    paths = generator_utils.shard_filepaths(str(tmp_path / "killed"), "p", "train", 3)
    with monkeypatch.context() as m:
        _kill_at(m, function, when)
        with pytest.raises(Killed):
            generator_utils.generate_files(cases(30), paths, shuffle=True)
    assert not generator_utils.is_complete(paths)
    assert generator_utils.generate_files(cases(30), paths, shuffle=True) == 30
    assert [helpers.read_records(p) for p in paths] == expected
    assert generator_utils.is_complete(paths) and helpers.temp_files(tmp_path) == []


def test_empty_generator_is_a_user_error_and_leaves_no_files(tmp_path):
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "train", 2)
    with pytest.raises(UserError, match="produced no examples"):
        generator_utils.generate_files(iter([]), paths)
    assert os.listdir(tmp_path) == []


def test_empty_generator_raises_user_error(tmp_path):
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "train", 2)
    with pytest.raises(UserError, match="produced no examples"):
        generator_utils.generate_files(iter([]), paths)
    assert helpers.temp_files(tmp_path) == []


def test_to_example_feature_types():
    example = generator_utils.to_example({
        "ints": [1, 2, 3], "int": 7, "floats": [0.5, 1.5], "float": 2.0, "text": "héllo",
        "bytes": [b"a", b"b"], "empty": [], "tuple": (4, 5)})
    f = example.features.feature
    assert list(f["ints"].int64_list.value) == [1, 2, 3]
    assert list(f["int"].int64_list.value) == [7]
    assert list(f["floats"].float_list.value) == [0.5, 1.5]
    assert list(f["float"].float_list.value) == [2.0]
    assert list(f["text"].bytes_list.value) == ["héllo".encode("utf-8")]
    assert list(f["bytes"].bytes_list.value) == [b"a", b"b"]
    assert list(f["empty"].int64_list.value) == []
    assert list(f["tuple"].int64_list.value) == [4, 5]
    with pytest.raises(ValueError, match="unsupported value type"):
        generator_utils.to_example({"bad": [object()]})


def test_to_example_bools_are_stored_as_ints():
    example = generator_utils.to_example({"flag": True, "flags": [False, True]})
    assert list(example.features.feature["flag"].int64_list.value) == [1]
    assert list(example.features.feature["flags"].int64_list.value) == [0, 1]


def test_to_example_accepts_numpy_integers():
    import numpy as np
    example = generator_utils.to_example({"ids": list(np.array([3, 4], np.int64)),
                                          "one": np.int32(5)})
    assert list(example.features.feature["ids"].int64_list.value) == [3, 4]
    assert list(example.features.feature["one"].int64_list.value) == [5]


def test_shuffle_dataset_is_a_deterministic_permutation(tmp_path):
    paths = generator_utils.shard_filepaths(str(tmp_path), "p", "train", 2)
    generator_utils.generate_files(cases(40), paths)
    before = [helpers.read_records(p) for p in paths]
    generator_utils.shuffle_dataset(paths, seed=3)
    after = [helpers.read_records(p) for p in paths]
    for b, a in zip(before, after):
        assert sorted(map(str, a)) == sorted(map(str, b)) and a != b
    assert helpers.temp_files(tmp_path) == []

    # same seed and same base names -> same order
    other = tmp_path / "other"
    other.mkdir()
    other_paths = generator_utils.shard_filepaths(str(other), "p", "train", 2)
    generator_utils.generate_files(cases(40), other_paths)
    generator_utils.shuffle_dataset(other_paths, seed=3)
    assert [helpers.read_records(p) for p in other_paths] == after


def test_generate_dataset_and_shuffle(tmp_path):
    train = generator_utils.train_data_filenames("p", str(tmp_path), 2)
    dev = generator_utils.dev_data_filenames("p", str(tmp_path), 1)
    generator_utils.generate_dataset_and_shuffle(cases(20), train, cases(5), dev)
    assert sum(len(helpers.read_records(p)) for p in train) == 20
    assert len(helpers.read_records(dev[0])) == 5
    assert helpers.temp_files(tmp_path) == []

"""Shared test helpers: tiny algorithmic problems, generating their data, reading shards.

Import as `import helpers` (tests/conftest.py puts tests/ on sys.path).
"""
import glob
import os

from data_generators import algorithmic, generator_utils

# Small sizes so generating every split takes well under a second.
TINY_SIZES = dict(train_size=200, dev_size=20, test_size=20, num_shards=10)


def tiny_problem_class(base_cls=algorithmic.AlgorithmicReverseBinary40, name=None, **sizes):
    """A subclass of the algorithmic problem `base_cls` with small splits (not registered).

    Keyword arguments override TINY_SIZES and any other property (train_length, ...).
    Its base_name is the snake_case of `name` (default: "Tiny" + the base class name).
    """
    attrs = {**TINY_SIZES, **sizes}
    attrs["__doc__"] = f"{base_cls.__name__} with small splits, for tests."
    return type(name or "Tiny" + base_cls.__name__, (base_cls,), attrs)


def tiny_problem(base_cls=algorithmic.AlgorithmicReverseBinary40, was_reversed=False, **sizes):
    """An instance of tiny_problem_class(base_cls, **sizes)."""
    return tiny_problem_class(base_cls, **sizes)(was_reversed=was_reversed)


def generate_tiny_data(data_dir, problem=None):
    """Runs `problem.generate_data` into data_dir (a tiny reverse-binary problem by default)
    and returns the problem."""
    problem = problem or tiny_problem()
    data_dir = str(data_dir)
    problem.generate_data(data_dir, os.path.join(data_dir, "tmp"))
    return problem


def read_records(paths):
    """The tf.train.Examples of TFRecord files as dicts of feature name -> list of values."""
    import tensorflow as tf
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    records = []
    for path in paths:
        for raw in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            example = tf.train.Example.FromString(raw)
            record = {}
            for key, feature in example.features.feature.items():
                kind = feature.WhichOneof("kind")
                record[key] = list(getattr(feature, kind).value) if kind else []
            records.append(record)
    return records


def split_paths(data_dir, problem, split):
    """The shard files of one split that exist in data_dir, sorted."""
    return sorted(glob.glob(os.path.join(str(data_dir),
                                         f"{problem.dataset_filename()}-{split}-*")))


def temp_files(folder):
    """Leftover temporary (`.incomplete`) files anywhere under folder."""
    return [os.path.join(root, f) for root, _, files in os.walk(str(folder))
            for f in files if f.endswith(generator_utils.TEMP_SUFFIX)]

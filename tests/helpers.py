"""Shared test helpers: tiny algorithmic problems, a tiny language-model problem
(LetterRuns), the toy multi-task world (TinyMulti), the tiny Transformer's hparams,
generating data, reading shards. The CLI tests' helpers are in cli_helpers.py.

Import as `import helpers` (pyproject.toml puts tests/ on the path).
"""
import glob
import os
import random
import string

from data_generators import algorithmic, generator_utils
from data_generators.multi_problem import MultiProblem
from data_generators.problem import DatasetSplit
from data_generators.text_problems import Text2SelfProblem, VocabType

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


RUN = 8                              # LetterRuns: letters per sample
LETTERS = string.ascii_lowercase


class LetterRuns(Text2SelfProblem):
    """Language-model toy: RUN consecutive letters from a random start ("cdefghij"),
    character vocabulary, one shard per split. Not registered (its name: letter_runs)."""
    vocab_type = VocabType.CHARACTER
    dataset_splits = [{"split": DatasetSplit.TRAIN, "shards": 1},
                      {"split": DatasetSplit.EVAL, "shards": 1}]
    train_size = 1000
    dev_size = 50

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        rng = random.Random(f"letter_runs/{dataset_split}")
        size = self.train_size if dataset_split == DatasetSplit.TRAIN else self.dev_size
        for _ in range(size):
            start = rng.randrange(len(LETTERS) - RUN + 1)
            yield {"targets": LETTERS[start:start + RUN]}


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


class TinyCopy(algorithmic.AlgorithmicIdentityBinary40):
    """Copy binary strings of length 1-6 (small, so a few hundred steps suffice)."""
    train_length = 6
    dev_length = 6
    train_size = 2000
    dev_size = 200
    test_size = 0
    num_shards = 2


# transformer_tiny, one layer and 64 wide, with a schedule that learns TinyCopy in ~200 steps.
TINY_TRANSFORMER = dict(num_hidden_layers=1, hidden_size=64, filter_size=128, batch_size=256,
                        learning_rate_warmup_steps=50, learning_rate_constant=0.02,
                        learning_rate_schedule="constant*linear_warmup*rsqrt_decay")
NO_DROPOUT = dict(layer_prepostprocess_dropout=0.0, attention_dropout=0.0, relu_dropout=0.0)
# The tiny Transformer as a decoder-only language model of LetterRuns (learnt in ~60 steps).
TINY_LM = {**TINY_TRANSFORMER, **NO_DROPOUT, "num_heads": 4, "batch_size": 512,
           "label_smoothing": 0.0, "learning_rate_warmup_steps": 20,
           "learning_rate_constant": 0.05}


def tiny_transformer_hparams(**overrides):
    """transformer_tiny with TINY_TRANSFORMER, then `overrides` (frozen)."""
    from t2tlike.hparams import create_hparams
    import t2tlike.models  # noqa: F401  (registers the hparams sets)
    return create_hparams("transformer_tiny").replace(
        **{**TINY_TRANSFORMER, **overrides}).freeze()


def hparams_flag(values):
    """{name: value} as an --hparams flag value: "name=value,name=value"."""
    return ",".join(f"{name}={value}" for name, value in values.items())


# -- the toy multi-task world -------------------------------------------------------------------
TinyReverse = tiny_problem_class(algorithmic.AlgorithmicReverseBinary40)
TinyIdentity = tiny_problem_class(algorithmic.AlgorithmicIdentityBinary40, train_size=600)
REVERSE, IDENTITY = "tiny_algorithmic_reverse_binary40", "tiny_algorithmic_identity_binary40"


class TinyMulti(MultiProblem):
    """Reverse (200 training samples) and copy (600) binary strings, in T2T's style (tasks
    appended in __init__). Its name: tiny_multi; tests/conftest.py's `tiny_multi` fixture
    generates it once per test run."""
    approx_vocab_size = 24

    def __init__(self, was_reversed=False):
        super().__init__(was_reversed)
        self.task_list.append(TinyReverse())
        self.task_list.append(TinyIdentity())

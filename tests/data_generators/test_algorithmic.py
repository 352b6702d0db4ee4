"""data_generators/algorithmic.py: T2T's algorithmic problems, their data and files."""
import itertools
import os
import random

import pytest

import helpers
from data_generators import algorithmic, text_encoder
from data_generators.problem import DatasetSplit
from t2tlike import registry

T2T_NAMES = [
    "algorithmic_identity_binary40", "algorithmic_identity_decimal40",
    "algorithmic_shift_decimal40", "algorithmic_reverse_binary40",
    "algorithmic_reverse_decimal40", "algorithmic_reverse_nlplike8k",
    "algorithmic_reverse_nlplike32k", "algorithmic_addition_binary40",
    "algorithmic_addition_decimal40", "algorithmic_multiplication_binary40",
    "algorithmic_multiplication_decimal40", "algorithmic_sort_problem",
]


def sample(problem, n=60, max_length=None, seed=0):
    """n raw cases from the problem's generator with its own symbols and max length."""
    rng = random.Random(seed)
    return list(problem.generator(problem.num_symbols, max_length or problem.train_length, n,
                                  rng))


def from_lower_endian(digits, base):
    return sum(d * base ** i for i, d in enumerate(digits))


@pytest.mark.parametrize("name", T2T_NAMES)
def test_t2t_names_are_registered(name):
    problem = registry.problem(name)
    assert isinstance(problem, algorithmic.AlgorithmicProblem)
    assert problem.name == name and problem.dataset_filename() == name
    assert registry.problem(name + "_rev").name == name + "_rev"


@pytest.mark.parametrize("name", T2T_NAMES)
def test_symbols_and_lengths_are_within_bounds(name):
    problem = registry.problem(name)
    n = 20 if "nlplike" in name else 100
    for split_length in (problem.train_length, problem.dev_length):
        for case in sample(problem, n, split_length):
            assert set(case) == {"inputs", "targets"}
            assert 1 <= len(case["inputs"]) <= split_length
            assert case["targets"]
            for s in case["inputs"] + case["targets"]:
                assert 0 <= s < problem.vocab_symbols


@pytest.mark.parametrize("name", ["algorithmic_identity_binary40",
                                  "algorithmic_identity_decimal40"])
def test_identity(name):
    problem = registry.problem(name)
    cases = sample(problem)
    assert all(c["targets"] == c["inputs"] for c in cases)
    assert {s for c in cases for s in c["inputs"]} == set(range(problem.num_symbols))


def test_shift_adds_ten():
    problem = registry.problem("algorithmic_shift_decimal40")
    for c in sample(problem):
        assert all(0 <= s < 10 for s in c["inputs"])
        assert c["targets"] == [s + 10 for s in c["inputs"]]


@pytest.mark.parametrize("name, n", [("algorithmic_reverse_binary40", 100),
                                     ("algorithmic_reverse_decimal40", 100),
                                     ("algorithmic_reverse_nlplike8k", 20),
                                     ("algorithmic_reverse_nlplike32k", 20)])
def test_reverse_really_reverses(name, n):
    problem = registry.problem(name)
    cases = sample(problem, n)
    for c in cases:
        assert c["targets"] == list(reversed(c["inputs"]))
    # and the strings are not palindromes by construction
    assert any(c["targets"] != c["inputs"] for c in cases)


def test_nlplike_is_zipfian():
    problem = registry.problem("algorithmic_reverse_nlplike8k")
    symbols = [s for c in sample(problem, 30) for s in c["inputs"]]
    counts = [symbols.count(s) for s in range(3)]
    assert counts[0] > counts[1] > counts[2]        # rank 1 most frequent
    assert len(set(symbols)) > 50


@pytest.mark.parametrize("name, base, op", [
    ("algorithmic_addition_binary40", 2, lambda a, b: a + b),
    ("algorithmic_addition_decimal40", 10, lambda a, b: a + b),
    ("algorithmic_multiplication_binary40", 2, lambda a, b: a * b),
    ("algorithmic_multiplication_decimal40", 10, lambda a, b: a * b),
])
def test_arithmetic_results_are_correct(name, base, op):
    problem = registry.problem(name)
    assert problem.num_symbols == base and problem.vocab_symbols == base + 1
    for c in sample(problem, 100):
        inputs = c["inputs"]
        assert inputs.count(base) == 1                   # exactly one operator symbol
        split = inputs.index(base)
        n1, n2 = inputs[:split], inputs[split + 1:]
        assert n1 and n2 and all(d < base for d in n1 + n2)
        result = c["targets"]
        assert all(d < base for d in result)
        assert from_lower_endian(result, base) == op(from_lower_endian(n1, base),
                                                     from_lower_endian(n2, base))
        assert result[-1] != 0 or result == [0]          # no leading zeros


def test_arithmetic_needs_room_for_two_numbers():
    problem = registry.problem("algorithmic_addition_binary40")
    with pytest.raises(ValueError, match="max_length >= 3"):
        list(problem.generator(2, 2, 1, random.Random(0)))


def test_sort():
    problem = registry.problem("algorithmic_sort_problem")
    for c in sample(problem, 100, problem.dev_length):
        assert len(set(c["inputs"])) == len(c["inputs"])     # distinct symbols
        assert c["targets"] == sorted(c["inputs"])


@pytest.mark.parametrize("name", T2T_NAMES)
def test_generation_is_deterministic_across_instances(name):
    n = 5 if "nlplike" in name else 30
    a, b = registry.problem(name), registry.problem(name)
    for split in (DatasetSplit.TRAIN, DatasetSplit.EVAL):
        first = list(itertools.islice(a._cases(split), n))
        assert first == list(itertools.islice(b._cases(split), n))
    # and the splits differ from each other
    assert (list(itertools.islice(a._cases(DatasetSplit.TRAIN), n)) !=
            list(itertools.islice(a._cases(DatasetSplit.EVAL), n)))


def test_dev_split_probes_longer_strings():
    problem = helpers.tiny_problem(dev_size=200, dev_length=100)
    dev = list(problem._cases(DatasetSplit.EVAL))
    assert len(dev) == 200
    assert max(len(c["inputs"]) for c in dev) > problem.train_length
    assert max(len(c["inputs"]) for c in dev) <= 100


@pytest.mark.parametrize("base_cls", [algorithmic.AlgorithmicReverseBinary40,
                                      algorithmic.AlgorithmicAdditionBinary40])
def test_test_split_never_contains_a_training_input(base_cls):
    # Short binary strings collide often: a real test of the exclusion.
    problem = helpers.tiny_problem(base_cls, train_size=300, test_size=50, train_length=8)
    train_inputs = {tuple(c["inputs"]) for c in problem._cases(DatasetSplit.TRAIN)}
    test = list(problem._cases(DatasetSplit.TEST))
    assert len(test) == 50
    test_inputs = [tuple(c["inputs"]) for c in test]
    assert not set(test_inputs) & train_inputs
    assert len(set(test_inputs)) == len(test_inputs)          # and no repeats
    assert max(len(t) for t in test_inputs) <= 8              # drawn like the training data
    assert test == list(helpers.tiny_problem(base_cls, train_size=300, test_size=50,
                                             train_length=8)._cases(DatasetSplit.TEST))


def test_generate_samples_are_text_as_a_decoder_user_types_it():
    problem = helpers.tiny_problem()
    encoder = problem.get_feature_encoders()["inputs"]
    samples = list(itertools.islice(problem.generate_samples(None, None, DatasetSplit.TRAIN), 10))
    encoded = list(itertools.islice(problem._encoded(DatasetSplit.TRAIN), 10))
    for text, ids in zip(samples, encoded):
        assert set(text["inputs"]) <= set("01 ")
        assert encoder.encode(text["inputs"]) + [text_encoder.EOS_ID] == ids["inputs"]
        assert encoder.encode(text["targets"]) + [text_encoder.EOS_ID] == ids["targets"]


@pytest.mark.parametrize("name, vocab", [("algorithmic_reverse_binary40", 4),
                                         ("algorithmic_shift_decimal40", 22),
                                         ("algorithmic_addition_decimal40", 13),
                                         ("algorithmic_reverse_nlplike8k", 8002)])
def test_problem_hparams_vocab(name, vocab):
    hp = registry.problem(name).get_hparams()
    assert hp.modality == {"inputs": "symbol", "targets": "symbol"}
    assert hp.vocab_size == {"inputs": vocab, "targets": vocab}
    assert registry.problem(name).get_feature_encoders()["targets"].vocab_size == vocab


# -- generate_data --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("algorithmic")
    problem = helpers.generate_tiny_data(data_dir)
    return problem, data_dir


def test_generate_data_writes_t2t_shard_names(generated):
    problem, data_dir = generated
    name = problem.dataset_filename()
    assert name == "tiny_algorithmic_reverse_binary40"
    expected = ([f"{name}-train-{i:05d}-of-00010" for i in range(10)] +
                [f"{name}-dev-00000-of-00001", f"{name}-test-00000-of-00001"] +
                [f".{name}-{split}.complete" for split in ("train", "dev", "test")])
    files = sorted(f for f in os.listdir(data_dir) if os.path.isfile(data_dir / f))
    assert files == sorted(expected)
    assert helpers.temp_files(data_dir) == []


def test_generated_records_are_encoded_and_complete(generated):
    problem, data_dir = generated
    sizes = {DatasetSplit.TRAIN: 200, DatasetSplit.EVAL: 20, DatasetSplit.TEST: 20}
    train_inputs = set()
    for split, size in sizes.items():
        records = helpers.read_records(helpers.split_paths(data_dir, problem, split))
        assert len(records) == size
        for r in records:
            for key in ("inputs", "targets"):
                ids = r[key]
                assert ids[-1] == text_encoder.EOS_ID
                assert all(i in (2, 3) for i in ids[:-1])
            assert r["targets"][:-1] == r["inputs"][-2::-1]   # reversed, EOS kept last
            if split == DatasetSplit.TRAIN:
                train_inputs.add(tuple(r["inputs"]))
            if split == DatasetSplit.TEST:
                assert tuple(r["inputs"]) not in train_inputs
    # every training shard got its share
    for path in helpers.split_paths(data_dir, problem, DatasetSplit.TRAIN):
        assert len(helpers.read_records(path)) == 20


def test_generate_data_again_skips_existing_files(generated):
    problem, data_dir = generated
    before = {f: os.path.getmtime(data_dir / f) for f in os.listdir(data_dir)}
    helpers.generate_tiny_data(data_dir, problem)
    after = {f: os.path.getmtime(data_dir / f) for f in os.listdir(data_dir)}
    assert before == after


def test_generate_data_without_test_split(tmp_path):
    problem = helpers.tiny_problem(test_size=0, num_shards=2)
    helpers.generate_tiny_data(tmp_path, problem)
    name = problem.dataset_filename()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f"{name}-train-00000-of-00002", f"{name}-train-00001-of-00002",
         f"{name}-dev-00000-of-00001", f".{name}-train.complete", f".{name}-dev.complete"])


@pytest.mark.parametrize("name", T2T_NAMES)
def test_each_problem_is_one_class_under_its_family(name):
    cls = type(registry.problem(name))
    family = cls.__mro__[1]
    assert family is algorithmic.AlgorithmicProblem or \
        family.__mro__[1] is algorithmic.AlgorithmicProblem
    assert not [c for c in cls.__mro__[1:] if "registered_name" in c.__dict__]


def test_dataset_splits_follow_the_sizes():
    problem = helpers.tiny_problem(num_shards=3)
    assert problem.dataset_splits == [{"split": "train", "shards": 3},
                                      {"split": "dev", "shards": 1},
                                      {"split": "test", "shards": 1}]
    assert [s["split"] for s in helpers.tiny_problem(test_size=0).dataset_splits] == \
        ["train", "dev"]
    assert registry.problem("algorithmic_reverse_binary40").dataset_splits[0] == \
        {"split": "train", "shards": 10}

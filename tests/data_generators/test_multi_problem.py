"""data_generators/multi_problem.py and multi_problem_data.py: shared vocabulary, task
tags, per-task shards, the live-weighted training mixture, per-task datasets and '+'
composition in the registry.

Every datagen here is of tiny algorithmic / text problems (a few hundred samples) and
takes about a second; no Multi30k data is generated.
"""
import dataclasses
import os
import random

import numpy as np
import pytest

import helpers
from data_generators import algorithmic, multi_problem_data, text_encoder
from data_generators.multi30k import MultiTranslateMulti30k
from data_generators.multi_problem import MultiProblem, file_safe_name
from data_generators.problem import DatasetSplit, ModeKeys
from data_generators.task_tag_encoder import TaskTagEncoder
from data_generators.text_problems import Text2ClassProblem, Text2SelfProblem
from t2tlike import registry
from t2tlike.errors import UnknownNameError, UserError
from t2tlike.hparams import HParams
from t2tlike.input_pipeline import InputConfig, TaskMixture

# The toy multi-task world: reverse (200 training samples) and copy (600) binary strings.
TinyReverse, TinyIdentity, TinyMulti = helpers.TinyReverse, helpers.TinyIdentity, helpers.TinyMulti
REVERSE, IDENTITY = helpers.REVERSE, helpers.IDENTITY
TinyShift = helpers.tiny_problem_class(algorithmic.AlgorithmicShiftDecimal40, train_length=8,
                                       dev_length=8)
SMALL_BATCHES = InputConfig(batch_size=128, multiproblem_mixing="batch")


class Parity(Text2ClassProblem):
    """Label 1 iff the binary string has an odd number of ones."""
    num_classes = 2
    dataset_splits = [{"split": DatasetSplit.TRAIN, "shards": 2},
                      {"split": DatasetSplit.EVAL, "shards": 1}]

    def class_labels(self, data_dir):
        return ["even", "odd"]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        rng = random.Random(f"parity/{dataset_split}")
        for _ in range(60 if dataset_split == DatasetSplit.TRAIN else 10):
            bits = [rng.randint(0, 1) for _ in range(rng.randint(1, 8))]
            yield {"inputs": " ".join(map(str, bits)), "label": sum(bits) % 2}


class Counting(Text2SelfProblem):
    """Language model over runs of counting: '3 4 5 6'."""
    dataset_splits = [{"split": DatasetSplit.TRAIN, "shards": 1},
                      {"split": DatasetSplit.EVAL, "shards": 1}]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        rng = random.Random(f"counting/{dataset_split}")
        for _ in range(40 if dataset_split == DatasetSplit.TRAIN else 5):
            start = rng.randint(0, 5)
            yield {"targets": " ".join(str(start + i) for i in range(rng.randint(2, 5)))}


@pytest.fixture
def generated(tiny_multi):
    """(problem, data_dir) of the TinyMulti whose data is generated once per run."""
    return tiny_multi


@pytest.fixture
def throwaway_problems():
    """Registers the tiny problems for '+' composition; unregisters them afterwards."""
    names = {REVERSE: TinyReverse, IDENTITY: TinyIdentity,
             "tiny_algorithmic_shift_decimal40": TinyShift}
    for name, cls in names.items():
        registry.register_problem(name)(cls)
    yield names
    for name in names:
        registry.problems.unregister(name)


def _tokens(text):
    return text.split()


# -- generation and files ---------------------------------------------------------------------
def test_generate_data_writes_each_tasks_splits_and_one_shared_vocab(generated):
    problem, data_dir = generated
    for index, task in enumerate(["tiny_algorithmic_reverse_binary40", IDENTITY]):
        prefix = f"tiny_multi_task{index}_{task}"
        assert problem.task_filename(index) == prefix
        for split, shards in (("train", 10), ("dev", 1), ("test", 1)):
            paths = problem.task_data(index).data_files(data_dir, split)
            assert [os.path.basename(p) for p in paths] == [
                f"{prefix}-{split}-{i:05d}-of-{shards:05d}" for i in range(shards)]
    vocabs = [f for f in os.listdir(data_dir) if f.startswith("vocab.")]
    assert vocabs == ["vocab.tiny_multi.24.model"] == [problem.vocab_filename]
    assert not helpers.temp_files(data_dir)
    assert problem.task_sizes(data_dir) == [200, 600]


def test_records_carry_the_task_tag_first_then_the_tasks_text(generated):
    problem, data_dir = generated
    encoder = problem.get_feature_encoders(data_dir)["inputs"]
    shared = encoder.base.vocab_size
    for index, relation, size in ((0, lambda s: s[::-1], 200), (1, lambda s: s, 600)):
        records = helpers.read_records(problem.task_data(index).data_files(data_dir, "train"))
        assert len(records) == size
        for record in records[:20]:
            assert record["task_id"] == [index]
            inputs, targets = record["inputs"], record["targets"]
            assert inputs[0] == shared + index == encoder.tag_id(index)
            assert inputs[-1] == targets[-1] == text_encoder.EOS_ID
            tag, *symbols = _tokens(encoder.decode(inputs))
            assert tag == f"<task:{problem.task_names[index]}>"
            assert set(symbols) <= {"0", "1"} and symbols
            assert _tokens(encoder.decode(targets)) == relation(symbols)
            assert encoder.decode(inputs, strip_extraneous=True).startswith(tag)


def test_one_shared_encoder_whose_vocab_size_counts_the_tags(generated):
    problem, data_dir = generated
    encoders = problem.get_feature_encoders(data_dir)
    encoder = encoders["inputs"]
    assert encoders["targets"] is encoder and isinstance(encoder, TaskTagEncoder)
    for index in range(2):
        task_encoders = problem.task_feature_encoders(index, data_dir)
        assert task_encoders["inputs"] is encoder and task_encoders["targets"] is encoder
    shared = encoder.base.vocab_size
    assert 4 < shared <= 24
    assert encoder.vocab_size == shared + 2
    hp = problem.get_hparams(None, data_dir)
    assert hp.vocab_size == {"inputs": shared + 2, "targets": shared + 2}
    assert hp.modality == {"inputs": "symbol", "targets": "symbol"}
    # Plain text encodes as with the SentencePiece model; a tag in the text is its id.
    assert encoder.encode("1 0 1 1") == encoder.base.encode("1 0 1 1")
    assert encoder.encode(f"<task:{IDENTITY}> 1 0") == [shared + 1] + encoder.base.encode("1 0")
    assert encoder.decode_list([shared + 1]) == [f"<task:{IDENTITY}>"]
    with pytest.raises(UserError, match="unknown task tag <task:nope>"):
        encoder.encode("<task:nope> 1 0")


def test_datagen_twice_leaves_the_files_as_they_are(generated):
    problem, data_dir = generated
    path = problem.task_data(0).data_files(data_dir, "train")[0]
    before = os.path.getmtime(path)
    problem.generate_data(data_dir, os.path.join(data_dir, "tmp"))
    assert os.path.getmtime(path) == before


# -- reading ---------------------------------------------------------------------------------
def test_training_mixture_batches_hold_one_task_each(generated):
    problem, data_dir = generated
    encoder = problem.get_feature_encoders(data_dir)["inputs"]
    seen = set()   # (no mixture given: a uniform one)
    for batch in problem.dataset(ModeKeys.TRAIN, data_dir, SMALL_BATCHES, seed=3).take(40):
        task_id = batch["task_id"].numpy()
        assert task_id.shape == (batch["inputs"].shape[0], 1)
        assert len(set(task_id[:, 0])) == 1            # one task per batch
        tags = batch["inputs"].numpy()[:, 0]
        assert set(tags) == {encoder.tag_id(int(task_id[0, 0]))}
        seen.add(int(task_id[0, 0]))
    assert seen == {0, 1}


def test_example_mixing_puts_several_tasks_in_a_batch_and_follows_the_weights(generated):
    problem, data_dir = generated
    encoder = problem.get_feature_encoders(data_dir)["inputs"]
    config = InputConfig(batch_size=128)   # multiproblem_mixing="auto" reads as "example"
    assert config.multiproblem_mixing == "auto"
    mixture = TaskMixture(2)
    iterator = iter(problem.dataset(ModeKeys.TRAIN, data_dir, config, seed=3, mixture=mixture))
    mixed, rows = 0, []
    for _ in range(40):
        batch = next(iterator)
        task_id = batch["task_id"].numpy()[:, 0]
        tags = batch["inputs"].numpy()[:, 0]
        assert list(tags) == [encoder.tag_id(int(t)) for t in task_id]   # rows keep their tag
        mixed += len(set(task_id)) == 2
        rows += list(task_id)
    # (the parallel file reads make the order vary a little from run to run; one task per
    # batch would give 0 mixed batches)
    assert mixed >= 20, mixed                           # most batches hold both tasks
    assert 0.3 < np.mean(rows) < 0.7                    # and the weights are 1:1
    mixture.set([1, 0])
    # Rows drawn before the change still wait in the length buckets, so it shows gradually.
    later = [next(iterator)["task_id"].numpy()[:, 0] for _ in range(100)]
    early, late = np.mean(np.concatenate(later[:20]) == 1), np.mean(np.concatenate(later[60:]) == 1)
    assert late < 0.05 and late < early, (early, late)
    with pytest.raises(UserError, match="multiproblem_mixing must be"):
        dataclasses.replace(config, multiproblem_mixing="x")


def test_model_hparams_are_not_an_input_config(generated):
    problem, data_dir = generated
    hparams = HParams(batch_size=128, max_length=0, min_length_bucket=8,
                      length_bucket_step=1.1, eval_drop_long_sequences=False,
                      multiproblem_mixing="batch")
    with pytest.raises(TypeError, match="MultiProblem.dataset expects an InputConfig"):
        problem.dataset(ModeKeys.TRAIN, data_dir, hparams)
    assert problem.input_config(hparams) == SMALL_BATCHES


def test_assigning_task_weights_changes_the_mixture_of_a_running_iterator(generated):
    problem, data_dir = generated
    mixture = TaskMixture(2, problem.task_names)
    weights = mixture.weights
    assert weights.dtype.name == "float32" and weights.shape == (2,)
    weights.assign([1.0, 0.0])
    iterator = iter(problem.dataset(ModeKeys.TRAIN, data_dir, SMALL_BATCHES, seed=5,
                                    mixture=mixture))

    def next_tasks(n):
        return [int(next(iterator)["task_id"][0, 0]) for _ in range(n)]

    assert next_tasks(20) == [0] * 20
    weights.assign([0.0, 1.0])                  # the same iterator, from its next batch
    assert next_tasks(20) == [1] * 20
    mixture.set([3, 1])                         # normalised
    np.testing.assert_allclose(weights.numpy(), [0.75, 0.25])
    counts = np.bincount(next_tasks(200), minlength=2)
    assert 120 < counts[0] < 180                # ~150 expected
    for bad in ([1, 0, 0], [0, 0], [-1, 2], [np.nan, 1]):
        with pytest.raises(ValueError, match="task weights must be 2 finite values"):
            mixture.set(bad)
    with pytest.raises(UserError, match="has 2 tasks but the task mixture has 3 weights"):
        problem.dataset(ModeKeys.TRAIN, data_dir, SMALL_BATCHES, mixture=TaskMixture(3))


def test_a_task_dataset_reads_only_that_task(generated):
    problem, data_dir = generated
    for task in (1, IDENTITY):
        examples = list(problem.dataset(ModeKeys.EVAL, data_dir, SMALL_BATCHES, batched=False,
                                        task=task).as_numpy_iterator())
        assert len(examples) == 20
        assert {int(ex["task_id"][0]) for ex in examples} == {1}
    batches = problem.dataset(ModeKeys.TRAIN, data_dir, SMALL_BATCHES, task=0, seed=1).take(10)
    assert {int(t) for b in batches for t in b["task_id"].numpy().ravel()} == {0}
    with pytest.raises(UserError, match="has no task 'tiny_algorithmic_reverse_binary4'.*"
                                        "Did you mean: tiny_algorithmic_reverse_binary40"):
        problem.dataset(ModeKeys.EVAL, data_dir, task="tiny_algorithmic_reverse_binary4")
    with pytest.raises(UserError, match="has no task 2"):
        problem.dataset(ModeKeys.EVAL, data_dir, task=2)


def test_eval_without_a_task_reads_every_tasks_split_in_turn(generated):
    problem, data_dir = generated
    examples = list(problem.dataset(ModeKeys.EVAL, data_dir, SMALL_BATCHES, batched=False,
                                    split="test").as_numpy_iterator())
    assert [int(ex["task_id"][0]) for ex in examples] == [0] * 20 + [1] * 20


def test_missing_data_names_the_multi_problem_to_generate(tmp_path):
    with pytest.raises(UserError, match="t2t-datagen --problem=tiny_multi "):
        TinyMulti().dataset(ModeKeys.TRAIN, str(tmp_path))
    with pytest.raises(UserError, match="t2t-datagen --problem=tiny_multi "):
        TinyMulti().dataset(ModeKeys.EVAL, str(tmp_path))


def test_task_sizes_are_counted_once(generated, monkeypatch):
    problem, data_dir = generated
    assert problem.task_sizes(data_dir) == [200, 600]
    monkeypatch.setattr(multi_problem_data, "TaskData", None)   # would fail if used again
    assert problem.task_sizes(data_dir) == [200, 600]


def test_eval_metrics_per_task_and_together():
    class WithBleu(TinyIdentity):
        def eval_metrics(self):
            return ["accuracy", "bleu"]

    problem = MultiProblem(task_list=[TinyReverse(), WithBleu()], name="with_bleu")
    assert problem.task_eval_metrics(0) == TinyReverse().eval_metrics()
    assert problem.task_eval_metrics(1) == ["accuracy", "bleu"]
    assert problem.eval_metrics() == TinyReverse().eval_metrics() + ["bleu"]


# -- task kinds ------------------------------------------------------------------------------
def test_classification_and_language_model_tasks_share_the_vocabulary(tmp_path):
    data_dir = str(tmp_path)
    problem = type("MixedKinds", (MultiProblem,), {"approx_vocab_size": 24})(
        task_list=[TinyReverse(), Parity(), Counting()])
    problem.generate_data(data_dir, os.path.join(data_dir, "tmp"))
    encoder = problem.get_feature_encoders(data_dir)["inputs"]
    parity = helpers.read_records(problem.task_data("parity").data_files(data_dir, "train"))
    assert len(parity) == 60
    for record in parity:
        assert record["inputs"][0] == encoder.tag_id(1)
        bits = _tokens(encoder.decode(record["inputs"]))[1:]
        assert record["targets"] == [[b for b in bits].count("1") % 2]   # the label, no EOS
    labels = problem.task_feature_encoders(1, data_dir)["targets"]
    assert labels.decode([1]) == "odd"
    assert problem.task_target_modality(1, data_dir) == ("class_label", 2)
    assert problem.task_target_modality(0, data_dir) == ("symbol", encoder.vocab_size)
    counting = helpers.read_records(problem.task_data(2).data_files(data_dir, "train"))
    assert all(r["inputs"] == [encoder.tag_id(2), text_encoder.EOS_ID] for r in counting)
    numbers = [int(n) for n in _tokens(encoder.decode(counting[0]["targets"]))]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    # Batches of all three kinds mix in one training dataset.
    batches = problem.dataset(ModeKeys.TRAIN, data_dir, SMALL_BATCHES, seed=2).take(30)
    assert {int(b["task_id"][0, 0]) for b in batches} == {0, 1, 2}


def test_a_classification_task_cannot_be_reversed():
    problem = MultiProblem(task_list=[TinyReverse(), Parity(was_reversed=True)], name="bad")
    with pytest.raises(UserError, match="task parity_rev cannot be reversed"):
        problem.tasks


# -- '+' composition -------------------------------------------------------------------------
def test_plus_joined_names_make_a_multi_problem_and_generate(throwaway_problems, tmp_path):
    name = f"{REVERSE}+tiny_algorithmic_shift_decimal40_rev"
    problem = registry.problem(name)
    assert isinstance(problem, MultiProblem)
    assert problem.name == name
    assert problem.dataset_filename() == \
        f"{REVERSE}__tiny_algorithmic_shift_decimal40_rev"
    assert problem.task_names == [REVERSE, "tiny_algorithmic_shift_decimal40_rev"]
    assert [t.was_reversed for t in problem.tasks] == [False, True]
    data_dir = str(tmp_path)
    problem.generate_data(data_dir, os.path.join(data_dir, "tmp"))
    assert problem.task_filename(1) == (f"{REVERSE}__tiny_algorithmic_shift_decimal40_rev"
                                        "_task1_tiny_algorithmic_shift_decimal40_rev")
    encoder = problem.get_feature_encoders(data_dir)["inputs"]
    records = helpers.read_records(problem.task_data(1).data_files(data_dir, "train"))
    for record in records[:20]:
        tag, *inputs = _tokens(encoder.decode(record["inputs"]))
        assert tag == "<task:tiny_algorithmic_shift_decimal40_rev>"
        # Reversed shift: inputs are the shifted symbols (10..19), targets the originals.
        assert all(10 <= int(s) < 20 for s in inputs)
        assert [int(s) for s in _tokens(encoder.decode(record["targets"]))] == \
            [int(s) - 10 for s in inputs]


def test_an_unknown_part_of_a_composition_is_named(throwaway_problems):
    with pytest.raises(UnknownNameError) as err:
        registry.problem(f"{REVERSE}+tiny_algorithmic_identity_binary4")
    message = str(err.value)
    assert message.startswith("unknown problem 'tiny_algorithmic_identity_binary4'.")
    assert f"Did you mean: {IDENTITY}" in message
    assert f"composition '{REVERSE}+tiny_algorithmic_identity_binary4'" in message
    with pytest.raises(UserError, match="empty name between '\\+' signs"):
        registry.problem(f"{REVERSE}++{IDENTITY}")
    with pytest.raises(UserError, match=f"task {REVERSE} appears more than once"):
        registry.problem(f"{REVERSE}+{IDENTITY}+{REVERSE}")


def test_a_multi_problem_in_a_composition_contributes_its_tasks(throwaway_problems):
    # (a subclass: registering names the class it is given, and TinyMulti is shared)
    registry.register_problem("tiny_multi_for_test")(type("TinyMultiForTest", (TinyMulti,), {}))
    try:
        problem = registry.problem("tiny_multi_for_test+tiny_algorithmic_shift_decimal40")
        assert problem.task_names == [REVERSE, IDENTITY, "tiny_algorithmic_shift_decimal40"]
    finally:
        registry.problems.unregister("tiny_multi_for_test")


def test_file_safe_name():
    assert file_safe_name("multi_translate_multi30k") == "multi_translate_multi30k"
    assert file_safe_name("a+b_rev+c") == "a__b_rev__c"
    odd = file_safe_name("tfds:wmt14_translate/de-en+x")
    assert odd.startswith("tfds_wmt14_translate_de_en__x_") and len(odd) == 38
    assert odd != file_safe_name("tfds_wmt14_translate/de-en+x")   # the hash tells them apart
    long = file_safe_name("+".join(["algorithmic_reverse_binary40"] * 8))
    assert len(long) == 100 and long.replace("_", "").isalnum()


# -- the registered example ------------------------------------------------------------------
def test_multi_translate_multi30k_is_registered_without_generating_data(tmp_path):
    problem = registry.problem("multi_translate_multi30k")
    assert type(problem) is MultiTranslateMulti30k
    assert problem.task_names == ["translate_ende_multi30k", "translate_enfr_multi30k"]
    assert problem.approx_vocab_size == 8000
    assert problem.vocab_filename == "vocab.multi_translate_multi30k.8000.model"
    assert problem.task_filename(1) == \
        "multi_translate_multi30k_task1_translate_enfr_multi30k"
    assert "bleu" in problem.eval_metrics()
    with pytest.raises(UserError, match="cannot be reversed as a whole"):
        registry.problem("multi_translate_multi30k_rev")


def test_registry_help_shows_the_composition():
    assert "NAME+NAME[+...]" in registry.help_string()

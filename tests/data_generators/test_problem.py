"""data_generators/problem.py: reading generated data as batches, `_rev`, hparams, errors."""
import numpy as np
import pytest
import tensorflow as tf

import helpers
from data_generators import algorithmic, problem as problem_lib
from data_generators.problem import DatasetSplit, ModeKeys, Problem
from t2tlike import registry
from t2tlike.errors import UserError
from t2tlike.hparams import HParams
from t2tlike.input_pipeline import InputConfig


def model_hparams(**overrides):
    """The input keys of the model hparams (basic_params1's defaults), with overrides."""
    return HParams(batch_size=4096, max_length=0, min_length_bucket=8, length_bucket_step=1.1,
                   eval_drop_long_sequences=False, multiproblem_mixing="auto").replace(
                       **overrides)


@pytest.fixture(scope="module")
def shift_data(tmp_path_factory):
    """A tiny shift problem (targets = inputs + 10, so the direction is visible) on disk."""
    data_dir = tmp_path_factory.mktemp("shift")
    cls = helpers.tiny_problem_class(algorithmic.AlgorithmicShiftDecimal40, num_shards=2,
                                     dev_length=40)
    helpers.generate_tiny_data(data_dir, cls())
    return cls, str(data_dir)


def batches(problem, data_dir, mode=ModeKeys.EVAL, **kwargs):
    kwargs.setdefault("config", InputConfig(batch_size=128))
    return list(problem.dataset(mode, data_dir, **kwargs).as_numpy_iterator())


def strip(row):
    """A padded row of ids -> the symbols before EOS (ids shifted back by 2)."""
    ids = row.tolist()
    assert 1 in ids
    end = ids.index(1)
    assert not any(ids[end + 1:])                 # only padding after EOS
    return [i - 2 for i in ids[:end]]


def test_dataset_yields_int32_batches(shift_data):
    cls, data_dir = shift_data
    out = batches(cls(), data_dir)
    assert out
    rows = 0
    for batch in out:
        for key in ("inputs", "targets"):
            assert batch[key].dtype == np.int32 and batch[key].ndim == 2
        assert batch["inputs"].shape[0] == batch["targets"].shape[0]
        longest = max(batch["inputs"].shape[1], batch["targets"].shape[1])
        assert batch["inputs"].shape[0] * longest <= 128           # about batch_size tokens
        for inp, tgt in zip(batch["inputs"], batch["targets"]):
            assert strip(tgt) == [s + 10 for s in strip(inp)]
        rows += batch["inputs"].shape[0]
    assert rows == 20                                               # the whole dev split


def test_dataset_modes_read_their_split(shift_data):
    cls, data_dir = shift_data
    problem = cls()
    train = problem.dataset(ModeKeys.TRAIN, data_dir, InputConfig(batch_size=128), seed=1)
    # training repeats and shuffles: more batches than one pass holds
    assert sum(b["inputs"].shape[0] for b in train.take(100).as_numpy_iterator()) > 200
    unbatched = list(problem.dataset(ModeKeys.PREDICT, data_dir, batched=False)
                     .as_numpy_iterator())
    assert len(unbatched) == 20 and unbatched[0]["inputs"].ndim == 1   # infer reads dev
    test = list(problem.dataset(ModeKeys.EVAL, data_dir, batched=False,
                                split=DatasetSplit.TEST).as_numpy_iterator())
    assert len(test) == 20
    assert len(list(problem.dataset(ModeKeys.EVAL, data_dir, batched=False, max_records=5)
                    .as_numpy_iterator())) == 5


def test_dataset_filters_by_max_length(shift_data):
    """Training drops examples longer than max_length; eval keeps them unless
    eval_drop_long_sequences is set (T2T's behaviour)."""
    cls, data_dir = shift_data
    read = lambda mode, config: list(cls().dataset(mode, data_dir, config, batched=False,
                                                   repeat=False).as_numpy_iterator())
    everything = read(ModeKeys.EVAL, None)
    train_all = read(ModeKeys.TRAIN, None)
    train = read(ModeKeys.TRAIN, InputConfig(max_length=12))
    assert 0 < len(train) < len(train_all)
    assert all(len(e["inputs"]) <= 12 and len(e["targets"]) <= 12 for e in train)
    assert len(read(ModeKeys.EVAL, InputConfig(max_length=12))) == len(everything)
    examples = read(ModeKeys.EVAL, InputConfig(max_length=12, eval_drop_long_sequences=True))
    assert 0 < len(examples) < len(everything)
    assert all(len(e["inputs"]) <= 12 and len(e["targets"]) <= 12 for e in examples)


def test_dataset_shard_reads_every_nth_file(shift_data):
    cls, data_dir = shift_data
    problem = cls()
    counts = [len(list(problem.dataset(ModeKeys.TRAIN, data_dir, batched=False, repeat=False,
                                       shuffle=False, shard=(i, 2)).as_numpy_iterator()))
              for i in range(2)]
    assert counts == [100, 100]


def test_with_fewer_files_than_workers_each_reads_every_nth_record(shift_data):
    cls, data_dir = shift_data
    problem = cls()

    def part(index, count):
        return [tuple(e["inputs"]) for e in problem.dataset(
            ModeKeys.EVAL, data_dir, shuffle=False, batched=False,
            shard=(index, count)).as_numpy_iterator()]
    everything = part(0, 1)
    parts = [part(i, 3) for i in range(3)]
    assert len(problem.data_files(data_dir, ModeKeys.EVAL)) < 3
    assert sorted(sum(parts, [])) == sorted(everything)
    assert all(abs(len(p) - len(everything) / 3) <= 1 for p in parts)


def test_rev_problem_swaps_inputs_and_targets(shift_data):
    cls, data_dir = shift_data
    forward, reverse = cls(), cls(was_reversed=True)
    assert reverse.name == forward.name + "_rev"
    assert reverse.data_files(data_dir, ModeKeys.EVAL) == forward.data_files(data_dir,
                                                                              ModeKeys.EVAL)
    fwd = list(forward.dataset(ModeKeys.EVAL, data_dir, batched=False).as_numpy_iterator())
    rev = list(reverse.dataset(ModeKeys.EVAL, data_dir, batched=False).as_numpy_iterator())
    assert len(fwd) == len(rev) == 20
    for f, r in zip(fwd, rev):
        np.testing.assert_array_equal(r["inputs"], f["targets"])
        np.testing.assert_array_equal(r["targets"], f["inputs"])
    for batch in batches(reverse, data_dir):
        for inp, tgt in zip(batch["inputs"], batch["targets"]):
            assert strip(inp) == [s + 10 for s in strip(tgt)]


def test_registered_rev_problem_reads_the_forward_files(tmp_path):
    rev = registry.problem("algorithmic_reverse_binary40_rev")
    assert rev.dataset_filename() == "algorithmic_reverse_binary40"
    assert rev.filepattern(str(tmp_path), ModeKeys.TRAIN) == str(
        tmp_path / "algorithmic_reverse_binary40-train*")


@pytest.mark.parametrize("name", ["algorithmic_reverse_binary40",
                                  "algorithmic_reverse_binary40_rev"])
def test_missing_data_dir_names_the_datagen_command(tmp_path, name):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(UserError) as err:
        registry.problem(name).dataset(ModeKeys.TRAIN, str(missing))
    message = str(err.value)
    assert "t2t-datagen --problem=algorithmic_reverse_binary40 " in message
    assert f"--data_dir={missing}" in message
    assert "does not exist" in message and f"'{name}'" in message


def test_empty_data_dir_says_it_has_no_such_files(tmp_path, shift_data):
    _, data_dir = shift_data
    with pytest.raises(UserError, match="has no such files.*t2t-datagen --problem="):
        registry.problem("algorithmic_reverse_binary40").data_files(str(tmp_path),
                                                                    ModeKeys.EVAL)
    # files of another problem do not count either
    with pytest.raises(UserError, match="has no such files"):
        registry.problem("algorithmic_shift_decimal40").data_files(data_dir, ModeKeys.EVAL)


def test_incomplete_files_are_not_read(tmp_path):
    (tmp_path / "p-dev-00000-of-00001.incomplete").write_bytes(b"")
    problem = helpers.tiny_problem(name="P")
    assert problem.dataset_filename() == "p"
    with pytest.raises(UserError):
        problem.data_files(str(tmp_path), ModeKeys.EVAL)


def test_get_hparams_modality_and_vocab_size():
    problem = helpers.tiny_problem(algorithmic.AlgorithmicAdditionDecimal40)
    hp = problem.get_hparams()
    assert hp.modality == {"inputs": "symbol", "targets": "symbol"}
    assert hp.vocab_size == {"inputs": 13, "targets": 13}      # 10 digits, '+', PAD, EOS
    assert hp.has_inputs and not hp.was_reversed
    assert hp.frozen
    assert problem.get_hparams() is hp                        # built once
    assert problem.has_inputs


class AsymmetricProblem(Problem):
    """Different vocabularies and spaces per feature, to see `_rev` swap them."""

    def hparams(self, defaults, model_hparams):
        defaults.modality = {"inputs": "symbol", "targets": "class_label"}
        defaults.vocab_size = {"inputs": 100, "targets": 7}
        defaults.input_space_id = 3
        defaults.target_space_id = 9


def test_rev_get_hparams_swaps_features():
    hp = AsymmetricProblem().get_hparams()
    rev = AsymmetricProblem(was_reversed=True).get_hparams()
    assert rev.modality == {"inputs": "class_label", "targets": "symbol"}
    assert rev.vocab_size == {"inputs": 7, "targets": 100}
    assert (rev.input_space_id, rev.target_space_id) == (9, 3)
    assert rev.was_reversed and not hp.was_reversed
    assert hp.modality == {"inputs": "symbol", "targets": "class_label"}


def test_rev_feature_encoders_are_swapped():
    class Encoders(Problem):
        def feature_encoders(self, data_dir):
            return {"inputs": "in-encoder", "targets": "out-encoder"}

    assert Encoders().get_feature_encoders() == {"inputs": "in-encoder",
                                                 "targets": "out-encoder"}
    assert Encoders(was_reversed=True).get_feature_encoders() == {"inputs": "out-encoder",
                                                                  "targets": "in-encoder"}


def test_problem_without_inputs():
    class TargetsOnly(Problem):
        def feature_encoders(self, data_dir):
            return {"targets": "enc"}

        def hparams(self, defaults, model_hparams):
            defaults.modality = {"targets": "symbol"}
            defaults.vocab_size = {"targets": 10}

    problem = TargetsOnly()
    assert not problem.has_inputs
    assert not problem.get_hparams().has_inputs
    assert set(problem.example_reading_spec()[0]) == {"targets"}


def test_unregistered_subclass_gets_its_own_name():
    cls = helpers.tiny_problem_class(algorithmic.AlgorithmicReverseBinary40)
    assert cls().name == "tiny_algorithmic_reverse_binary40"
    assert registry.problem("algorithmic_reverse_binary40").name == \
        "algorithmic_reverse_binary40"


def test_max_length_defaults_to_batch_size():
    problem = Problem()
    assert problem.max_length(model_hparams(max_length=0, batch_size=300)) == 300
    assert problem.max_length(model_hparams(max_length=50)) == 50
    assert problem.input_config(model_hparams(max_length=0, batch_size=300)).max_length == 300
    assert InputConfig(batch_size=300).max_length == 300       # 0 means batch_size


def test_input_config_resolves_a_t2t_max_length_hook(shift_data):
    """A problem overriding T2T's max_length(model_hparams) gets its limit into the config,
    which is all that dataset reads."""
    cls, data_dir = shift_data

    class Short(cls):
        registered_name = cls().base_name   # reads the same files

        def max_length(self, model_hparams):
            return model_hparams.batch_size // 100

    problem = Short()
    config = problem.input_config(model_hparams(batch_size=1200, length_bucket_step=1.5))
    assert config == InputConfig(batch_size=1200, max_length=12, length_bucket_step=1.5)
    train = list(problem.dataset(ModeKeys.TRAIN, data_dir, config, batched=False,
                                 repeat=False).as_numpy_iterator())
    assert train and all(len(e["inputs"]) <= 12 and len(e["targets"]) <= 12 for e in train)


def test_dataset_takes_an_input_config_not_model_hparams(shift_data):
    cls, data_dir = shift_data
    with pytest.raises(TypeError, match="Problem.dataset expects an InputConfig.*got HParams"
                                        ".*problem.input_config\\(hparams\\)"):
        cls().dataset(ModeKeys.EVAL, data_dir, model_hparams())


def test_preprocess_example_receives_the_input_config(shift_data):
    cls, data_dir = shift_data
    seen = []

    class Preprocessed(cls):
        registered_name = cls().base_name   # reads the same files

        def preprocess_example(self, example, mode, hparams):
            seen.append((mode, hparams))
            return {**example, "targets": example["targets"][:hparams.max_length]}

    config = InputConfig(batch_size=128, max_length=3)
    examples = list(Preprocessed().dataset(ModeKeys.EVAL, data_dir, config, batched=False)
                    .as_numpy_iterator())
    assert seen == [(ModeKeys.EVAL, config)]
    assert all(len(e["targets"]) <= 3 for e in examples)
    with pytest.raises(AttributeError, match="InputConfig has no field 'hidden_size'.*not "
                                             "the model hparams"):
        config.hidden_size


def test_default_hparams_and_metrics():
    # T2T's problem-side defaults, before a problem fills in its modalities and vocabularies
    assert problem_lib.default_problem_hparams().values() == dict(
        modality={}, vocab_size={}, input_space_id=0, target_space_id=0, loss_multiplier=1.0,
        batch_size_multiplier=1, stop_at_eos=True, was_reversed=False, has_inputs=True)
    assert problem_lib.ModeKeys.PREDICT == "infer"
    assert Problem().eval_metrics() == ["accuracy", "accuracy_per_sequence",
                                        "neg_log_perplexity"]
    with pytest.raises(NotImplementedError):
        Problem().generate_data("d", "t")


def test_decode_example_parses_var_len_ints():
    problem = Problem()
    from data_generators import generator_utils
    serialized = generator_utils.to_example({"inputs": [4, 5, 1], "targets": [6, 1]})
    parsed = problem.decode_example(tf.constant(serialized.SerializeToString()))
    assert parsed["inputs"].numpy().tolist() == [4, 5, 1]
    assert parsed["targets"].numpy().tolist() == [6, 1]

"""data_generators/tfds_problem.py: `tfds:` problems on mocked TFDS data (offline, fast).

tfds.testing.mock_data replaces every builder's download and reading; the fake reader
below serves a few sentences whose text names the TFDS split it came from, so the tests
can check which split went where.
"""
import os
import tempfile

import pytest

tfds = pytest.importorskip("tensorflow_datasets")
import tensorflow as tf  # noqa: E402

import helpers  # noqa: E402
from data_generators import tfds_problem, text_encoder  # noqa: E402
from data_generators.problem import DatasetSplit  # noqa: E402
from t2tlike import registry  # noqa: E402
from t2tlike.errors import UserError  # noqa: E402

WORDS = ["haus", "katze", "hund", "baum", "house", "cat", "dog", "tree", "red", "big",
         "train", "validation", "test"]   # the split names, so the vocab covers them
NUM_EXAMPLES = 12


def _sentence(i, split):
    words = [WORDS[(i + k) % len(WORDS)] for k in range(3 + i % 3)]
    return f"{split} " + " ".join(words)


def _fake_as_dataset(builder, split, decoders=None, read_config=None, shuffle_files=False):
    """Split-dependent examples for the datasets the tests use (texts name their split)."""
    del decoders, read_config, shuffle_files
    split = str(split)
    rows = range(NUM_EXAMPLES)
    if builder.name == "wmt14_translate":
        columns = {"de": [f"de {_sentence(i, split)}" for i in rows],
                   "en": [f"en {_sentence(i, split)}" for i in rows]}
    elif builder.name == "imdb_reviews":
        columns = {"text": [_sentence(i, split) for i in rows],
                   "label": [i % 2 for i in rows]}
    elif builder.name == "lm1b":
        columns = {"text": [_sentence(i, split) for i in rows]}
    else:
        raise AssertionError(f"no fake data for {builder.name}")
    return tf.data.Dataset.from_tensor_slices(
        {k: tf.constant(v, tf.int64 if k == "label" else tf.string) for k, v in columns.items()})


@pytest.fixture(autouse=True)
def _tfds_temp_folders_in_tmp_path(tmp_path, monkeypatch):
    # TFDS makes an empty mkdtemp("tfds") folder per builder it initialises (looking for
    # metadata on GCS) and never removes it: keep those under the test's tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def mock_tfds():
    with tfds.testing.mock_data(as_dataset_fn=_fake_as_dataset):
        yield


def _generate(spec, tmp_path):
    problem = registry.problem(spec)
    data_dir = str(tmp_path / "data")
    problem.generate_data(data_dir, str(tmp_path / "tmp"))
    return problem, data_dir


def _decoded(problem, data_dir, split, feature):
    encoder = problem.get_feature_encoders(data_dir)[feature]
    return sorted(encoder.decode(text_encoder.cut_at_eos(r[feature]))
                  for r in helpers.read_records(helpers.split_paths(data_dir, problem, split)))


# -- names and options ---------------------------------------------------------------------
def test_parse_spec_keeps_the_tfds_name_and_typed_options():
    name, options = tfds_problem.parse_spec(
        "tfds:wmt14_translate/de-en:1.0.0?source=en&target=de&vocab_size=500&dev=train[:5%]")
    assert name == "wmt14_translate/de-en:1.0.0"
    assert options == {"source": "en", "target": "de", "vocab_size": 500, "dev": "train[:5%]"}


@pytest.mark.parametrize("spec, fragment", [
    ("tfds:WMT14", "malformed TFDS problem name"),
    ("tfds:imdb_reviews?vocab_sise=10", "unknown option 'vocab_sise'. Did you mean: vocab_size"),
    ("tfds:imdb_reviews?vocab_size=ten", "vocab_size expects a positive integer"),
    ("tfds:imdb_reviews?text", "malformed option 'text'"),
])
def test_malformed_specs_are_user_errors(spec, fragment):
    with pytest.raises(UserError, match=fragment):
        tfds_problem.parse_spec(spec)


def test_unknown_dataset_config_and_version_are_user_errors():
    with pytest.raises(UserError, match="unknown TFDS dataset 'imdb_reveiws'.*imdb_reviews"):
        registry.problem("tfds:imdb_reveiws")
    with pytest.raises(UserError, match="has no config 'de-xx'.*de-en"):
        registry.problem("tfds:wmt14_translate/de-xx")
    with pytest.raises(UserError, match="only: 1.0.0"):
        registry.problem("tfds:wmt14_translate/de-en:9.9.9")


def test_unknown_dataset_exits_2_from_the_cli(tmp_path, capsys):
    from absl import flags

    from t2tlike_cli import t2t_datagen
    flags.FLAGS.unparse_flags()
    with pytest.raises(SystemExit) as exit_info:
        t2t_datagen.cli.run(t2t_datagen.main, ["t2t-datagen", "--problem=tfds:no_such_dataset",
                                               f"--data_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "unknown TFDS dataset 'no_such_dataset'" in err and "Traceback" not in err


def test_registry_help_shows_the_tfds_family():
    assert "tfds:NAME[/CONFIG][:VERSION]" in registry.help_string()


def test_features_that_do_not_exist_are_named(mock_tfds):
    with pytest.raises(UserError, match=r"source='fr' is not a Text feature.*\['de', 'en'\]"):
        registry.problem("tfds:wmt14_translate/de-en?source=fr")
    with pytest.raises(UserError, match="label='text' is not a ClassLabel feature"):
        registry.problem("tfds:imdb_reviews?label=text")


# -- translation ----------------------------------------------------------------------------
def test_translation_follows_the_config_order_and_writes_shards_and_vocab(mock_tfds, tmp_path):
    problem, data_dir = _generate("tfds:wmt14_translate/de-en?vocab_size=60", tmp_path)
    assert isinstance(problem, tfds_problem.TfdsText2TextProblem)
    assert problem.source.fields == {"source": "de", "target": "en"}
    assert problem.name == "tfds:wmt14_translate/de-en?vocab_size=60"
    names = set(os.listdir(data_dir))
    assert "tfds_wmt14_translate_de_en-train-00000-of-00010" in names
    assert {"tfds_wmt14_translate_de_en-dev-00000-of-00001",
            "tfds_wmt14_translate_de_en-test-00000-of-00001",
            "vocab.tfds_wmt14_translate_de_en.60.model"} <= names
    assert not helpers.temp_files(data_dir)
    # TFDS validation -> dev, train -> train; inputs are German, targets English.
    dev_inputs = _decoded(problem, data_dir, DatasetSplit.EVAL, "inputs")
    assert dev_inputs == sorted(f"de {_sentence(i, 'validation')}" for i in range(NUM_EXAMPLES))
    train_targets = _decoded(problem, data_dir, DatasetSplit.TRAIN, "targets")
    assert train_targets == sorted(f"en {_sentence(i, 'train')}" for i in range(NUM_EXAMPLES))
    hp = problem.get_hparams(None, data_dir)
    assert hp.modality == {"inputs": "symbol", "targets": "symbol"}
    # The trainer's reader needs nothing TFDS-specific.
    batch = next(iter(problem.dataset("train", data_dir)))
    assert batch["inputs"].shape.rank == 2 and batch["targets"].shape.rank == 2


def test_source_and_target_options_swap_the_direction(mock_tfds, tmp_path):
    problem, data_dir = _generate("tfds:wmt14_translate/de-en?source=en&vocab_size=60", tmp_path)
    assert problem.source.fields == {"source": "en", "target": "de"}
    assert problem.dataset_filename() == "tfds_wmt14_translate_de_en_source_en"
    assert _decoded(problem, data_dir, DatasetSplit.EVAL, "inputs")[0].startswith("en ")


def test_rev_suffix_and_split_options(mock_tfds, tmp_path):
    reversed_problem = registry.problem("tfds:wmt14_translate/de-en_rev")
    assert reversed_problem.was_reversed
    assert reversed_problem.name == "tfds:wmt14_translate/de-en_rev"
    problem, data_dir = _generate(
        "tfds:wmt14_translate/de-en?vocab_size=60&dev=train[:10%]&max_examples=5", tmp_path)
    dev_inputs = _decoded(problem, data_dir, DatasetSplit.EVAL, "inputs")
    assert len(dev_inputs) == 5 and all(s.startswith("de train") for s in dev_inputs)


def test_missing_validation_split_falls_back_to_test(mock_tfds):
    source = registry.problem("tfds:wmt14_translate/de-en").source
    source._available = ["train", "test"]          # as after preparing such a dataset
    assert source.split_expression(DatasetSplit.EVAL) == "test"
    source._available = ["train"]
    assert source.split_expression(DatasetSplit.TEST) is None
    with pytest.raises(UserError, match=r"no split for dev.*\?dev=train\[:5%\]"):
        source.split_expression(DatasetSplit.EVAL)


# -- classification and language modelling ---------------------------------------------------
def test_text_and_class_label_make_a_classification_problem(mock_tfds, tmp_path):
    problem, data_dir = _generate("tfds:imdb_reviews?vocab_size=40", tmp_path)
    assert isinstance(problem, tfds_problem.TfdsText2ClassProblem)
    assert problem.num_classes == 2
    hp = problem.get_hparams(None, data_dir)
    assert hp.modality == {"inputs": "symbol", "targets": "class_label"}
    assert hp.vocab_size["targets"] == 2
    records = helpers.read_records(helpers.split_paths(data_dir, problem, DatasetSplit.TRAIN))
    assert sorted(r["targets"][0] for r in records) == sorted(i % 2 for i in range(NUM_EXAMPLES))
    assert problem.get_feature_encoders(data_dir)["targets"].decode([1]) == "pos"


def test_a_lone_text_feature_makes_a_language_model(mock_tfds, tmp_path):
    problem, data_dir = _generate("tfds:lm1b?vocab_size=40", tmp_path)
    assert isinstance(problem, tfds_problem.TfdsText2SelfProblem)
    assert not problem.get_hparams(None, data_dir).has_inputs
    records = helpers.read_records(helpers.split_paths(data_dir, problem, DatasetSplit.TRAIN))
    assert len(records) == NUM_EXAMPLES and set(records[0]) == {"targets"}
    # label=none turns a classification dataset into language modelling of its text.
    assert isinstance(registry.problem("tfds:imdb_reviews?label=none"),
                      tfds_problem.TfdsText2SelfProblem)


def test_default_vocab_is_about_8k_from_a_bounded_sample(mock_tfds):
    problem = registry.problem("tfds:lm1b")
    assert problem.approx_vocab_size == 8192
    assert problem.max_samples_for_vocab == tfds_problem.DEFAULT_VOCAB_SAMPLES
    assert registry.problem("tfds:lm1b?vocab_samples=7").max_samples_for_vocab == 7


def test_file_names_are_file_safe_and_keep_split_expressions_apart():
    head = tfds_problem.TfdsSource("tfds:imdb_reviews?dev=train[:5%]&vocab_size=9")
    tail = tfds_problem.TfdsSource("tfds:imdb_reviews?dev=train[5%:]")
    assert head.file_prefix.startswith("tfds_imdb_reviews_dev_train_5_")
    assert head.file_prefix != tail.file_prefix
    assert tfds_problem.TfdsSource("tfds:imdb_reviews?vocab_size=9").file_prefix == \
        "tfds_imdb_reviews"

"""data_generators/text_problems.py: Text2Text, Text2Self (language modelling) and
Text2Class (classification) problems, with CHARACTER, TOKEN and SUBWORD vocabularies.

The two training tests drive the real Trainer on tiny synthetic problems: a decoder-only
Transformer language model must get far below its starting loss, and an encoder-only
Transformer classifier must learn "does the text contain 'blue'?" and decode class names.
"""
import random
import string

import pytest
import tensorflow as tf

import helpers
import t2tlike.models  # noqa: F401  (registers the models and hparams sets)
from data_generators import text_encoder
from data_generators.problem import DatasetSplit, ModeKeys
from data_generators.text_problems import (Text2ClassProblem, Text2SelfProblem,
                                           Text2TextProblem, VocabType)
from t2tlike import registry
from t2tlike.decoding import decoder as decoder_lib
from t2tlike.errors import UserError
from t2tlike.training.trainer import Trainer

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "red", "big", "small", "far"]
KEYWORD = "blue"
TWO_SHARDS = [{"split": DatasetSplit.TRAIN, "shards": 2},
              {"split": DatasetSplit.EVAL, "shards": 1}]


# -- tiny problems ----------------------------------------------------------------------------
class AlphabetRuns(Text2SelfProblem):
    """Language model over runs of consecutive letters ("klmnop"): after the first letter
    every character is determined, so a model that learns can get far below log(vocab)."""
    vocab_type = VocabType.CHARACTER
    dataset_splits = TWO_SHARDS
    sizes = {DatasetSplit.TRAIN: 1000, DatasetSplit.EVAL: 100}

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        rng = random.Random(f"alphabet_runs/{dataset_split}")
        for _ in range(self.sizes[dataset_split]):
            length = rng.randint(4, 10)
            start = rng.randrange(len(string.ascii_lowercase) - length + 1)
            yield {"targets": string.ascii_lowercase[start:start + length]}


class BlueTopic(Text2ClassProblem):
    """Label 1 ("has_blue") iff the sentence contains the word 'blue'."""
    vocab_type = VocabType.TOKEN
    dataset_splits = TWO_SHARDS
    num_classes = 2
    sizes = {DatasetSplit.TRAIN: 1000, DatasetSplit.EVAL: 200}

    def class_labels(self, data_dir):
        return ["no_blue", "has_blue"]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        rng = random.Random(f"blue_topic/{dataset_split}")
        for i in range(self.sizes[dataset_split]):
            words = rng.choices(WORDS, k=rng.randint(3, 10))
            label = i % 2
            if label:
                words[rng.randrange(len(words))] = KEYWORD
            yield {"inputs": " ".join(words), "label": label}


class EchoWords(Text2TextProblem):
    """Text2Text for comparison with the two others: targets = inputs."""
    vocab_type = VocabType.CHARACTER
    dataset_splits = TWO_SHARDS

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        for words in (["the", "cat"], ["a", "dog", "ran"], ["zebra"]):
            yield {"inputs": " ".join(words), "targets": " ".join(words)}


LM_NAME = "text_problems_test_alphabet_runs"
CLASS_NAME = "text_problems_test_blue_topic"


@pytest.fixture(scope="module", autouse=True)
def registered():
    """Registers the tiny problems under names unique to this file; unregisters after."""
    registry.register_problem(LM_NAME)(AlphabetRuns)
    registry.register_problem(CLASS_NAME)(BlueTopic)
    yield
    registry.problems.unregister(LM_NAME)
    registry.problems.unregister(CLASS_NAME)


def write_token_vocab(data_dir, problem, tokens):
    """The user's TOKEN vocab file, where the problem looks for it (one token a line)."""
    path = data_dir / problem.vocab_filename
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def records(data_dir, problem, split=DatasetSplit.TRAIN):
    return helpers.read_records(helpers.split_paths(data_dir, problem, split))


def variant(base, vocab_type, **attrs):
    """An unregistered subclass of `base` with another vocab_type (and other attributes)."""
    name = f"{base.__name__}{vocab_type.capitalize()}"
    return type(name, (base,), {"vocab_type": vocab_type, **attrs})()


def tiny_hparams(**overrides):
    return helpers.tiny_transformer_hparams(batch_size=512, learning_rate_warmup_steps=30,
                                            learning_rate_constant=0.03, **overrides)


# -- problem hparams and encoders -------------------------------------------------------------
def test_text2self_has_only_targets(tmp_path):
    problem = registry.problem(LM_NAME)
    assert not problem.has_inputs
    hp = problem.get_hparams(data_dir=str(tmp_path))
    assert not hp.has_inputs
    assert hp.modality == {"targets": "symbol"}
    assert hp.vocab_size == {"targets": 258}
    assert set(problem.get_feature_encoders()) == {"targets"}
    data_fields, _ = problem.example_reading_spec()
    assert set(data_fields) == {"targets"}


def test_text2class_hparams_and_class_label_encoder(tmp_path):
    problem = variant(BlueTopic, VocabType.CHARACTER)
    hp = problem.get_hparams(data_dir=str(tmp_path))
    assert hp.has_inputs
    assert hp.modality == {"inputs": "symbol", "targets": "class_label"}
    assert hp.vocab_size == {"inputs": 258, "targets": 2}
    targets = problem.get_feature_encoders()["targets"]
    assert isinstance(targets, text_encoder.ClassLabelEncoder)
    assert targets.decode([1]) == "has_blue" and targets.encode("no_blue") == 0


def test_text2class_default_class_labels_are_t2ts(tmp_path):
    problem = variant(BlueTopic, VocabType.CHARACTER, class_labels=Text2ClassProblem.class_labels,
                      num_classes=3)
    assert problem.class_labels(None) == ["ID_0", "ID_1", "ID_2"]
    assert problem.get_feature_encoders(str(tmp_path))["targets"].vocab_size == 3


def test_text2class_class_labels_must_match_num_classes(tmp_path):
    problem = variant(BlueTopic, VocabType.CHARACTER, num_classes=3)
    with pytest.raises(UserError, match="class_labels gives 2 names but num_classes is 3"):
        problem.get_feature_encoders(str(tmp_path))


# -- generation with each vocabulary type -----------------------------------------------------
def test_character_vocab_for_all_three_kinds(tmp_path):
    eos = [text_encoder.EOS_ID]
    chars = lambda s: [b + 2 for b in s.encode("utf-8")]   # noqa: E731  (bytes past PAD/EOS)

    echo = variant(EchoWords, VocabType.CHARACTER)
    echo.generate_data(str(tmp_path), None)
    got = sorted(r["inputs"] for r in records(tmp_path, echo))
    assert got == sorted(chars(s) + eos for s in ["the cat", "a dog ran", "zebra"])
    assert all(r["inputs"] == r["targets"] for r in records(tmp_path, echo))

    lm = variant(AlphabetRuns, VocabType.CHARACTER)
    lm.generate_data(str(tmp_path), None)
    expected = [s["targets"] for s in lm.generate_samples(None, None, DatasetSplit.TRAIN)]
    got = records(tmp_path, lm)
    assert all(set(r) == {"targets"} for r in got)
    assert sorted(r["targets"] for r in got) == sorted(chars(s) + eos for s in expected)

    cls = variant(BlueTopic, VocabType.CHARACTER)
    cls.generate_data(str(tmp_path), None)
    expected = list(cls.generate_samples(None, None, DatasetSplit.EVAL))
    got = records(tmp_path, cls, DatasetSplit.EVAL)
    assert sorted((r["inputs"], r["targets"]) for r in got) == \
        sorted((chars(s["inputs"]) + eos, [s["label"]]) for s in expected)


def test_token_vocab_with_oov_for_all_three_kinds(tmp_path):
    # "far" is left out of the user's vocab file: it must map to the OOV token.
    tokens = [w for w in WORDS if w != "far"] + [KEYWORD]
    ids = {t: i + 2 for i, t in enumerate(tokens)}          # 0 = PAD, 1 = EOS
    oov = len(tokens) + 2                                  # <UNK> is appended last
    encode = lambda s: [ids.get(w, oov) for w in s.split()] + [1]   # noqa: E731

    echo = variant(EchoWords, VocabType.TOKEN, generate_samples=lambda self, d, t, split: iter(
        [{"inputs": "the far cat", "targets": "a far dog"}]))
    write_token_vocab(tmp_path, echo, tokens)
    echo.generate_data(str(tmp_path), None)
    assert records(tmp_path, echo) == [{"inputs": encode("the far cat"),
                                        "targets": encode("a far dog")}]
    assert echo.get_feature_encoders(str(tmp_path))["targets"].decode(encode("a far dog"),
                                                                       strip_extraneous=True) \
        == "a <UNK> dog"

    lm = variant(AlphabetRuns, VocabType.TOKEN, generate_samples=lambda self, d, t, split: iter(
        [{"targets": "the cat sat far"}]))
    write_token_vocab(tmp_path, lm, tokens)
    lm.generate_data(str(tmp_path), None)
    assert records(tmp_path, lm) == [{"targets": encode("the cat sat far")}]
    assert lm.get_hparams(data_dir=str(tmp_path)).vocab_size == {"targets": len(tokens) + 3}

    cls = BlueTopic()          # TOKEN is its own vocab_type
    write_token_vocab(tmp_path, cls, tokens)
    cls.generate_data(str(tmp_path), None)
    expected = list(cls.generate_samples(None, None, DatasetSplit.EVAL))
    assert any("far" in s["inputs"].split() for s in expected)
    got = records(tmp_path, cls, DatasetSplit.EVAL)
    assert sorted((r["inputs"], r["targets"]) for r in got) == \
        sorted((encode(s["inputs"]), [s["label"]]) for s in expected)
    assert cls.get_hparams(data_dir=str(tmp_path)).vocab_size == {"inputs": len(tokens) + 3,
                                                                  "targets": 2}


def test_token_vocab_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist. A TOKEN-vocabulary problem"):
        BlueTopic().generate_data(str(tmp_path), None)


class _Counting:
    """Mixin: counts how many samples generate_samples handed out (for the vocab bound)."""
    max_samples_for_vocab = 7
    approx_vocab_size = 40

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        self.pulled = 0
        for sample in super().generate_samples(data_dir, tmp_dir, dataset_split):
            self.pulled += 1
            yield sample


def test_text_for_vocab_uses_the_right_fields_and_a_bounded_sample():
    lm = type("CountingRuns", (_Counting, AlphabetRuns), {})()
    texts = list(lm.generate_text_for_vocab(None, None))
    samples = list(AlphabetRuns().generate_samples(None, None, DatasetSplit.TRAIN))[:7]
    assert texts == [s["targets"] for s in samples]             # targets only
    assert lm.pulled == 7                                       # no sample past the bound

    cls = type("CountingTopic", (_Counting, BlueTopic), {})()
    texts = list(cls.generate_text_for_vocab(None, None))
    samples = list(BlueTopic().generate_samples(None, None, DatasetSplit.TRAIN))[:7]
    assert texts == [s["inputs"] for s in samples]              # inputs only, no labels
    assert cls.pulled == 7

    everything = type("AllRuns", (_Counting, AlphabetRuns), {"max_samples_for_vocab": None})()
    assert len(list(everything.generate_text_for_vocab(None, None))) == 1000


@pytest.mark.parametrize("base", [AlphabetRuns, BlueTopic])
def test_subword_vocab_is_built_and_used(tmp_path, base):
    problem = type(f"Subword{base.__name__}", (_Counting, base),
                   {"vocab_type": VocabType.SUBWORD, "max_samples_for_vocab": 200})()
    problem.generate_data(str(tmp_path), None)
    assert (tmp_path / problem.vocab_filename).exists()
    key = "inputs" if base is BlueTopic else "targets"          # the text feature
    encoder = problem.get_feature_encoders(str(tmp_path))[key]
    assert isinstance(encoder, text_encoder.SentencePieceEncoder)
    sample = next(iter(base().generate_samples(None, None, DatasetSplit.EVAL)))
    got = [r[key] for r in records(tmp_path, problem, DatasetSplit.EVAL)]
    assert all(ids[-1] == text_encoder.EOS_ID and min(ids[:-1]) > 1 for ids in got)
    assert encoder.encode(sample[key]) + [text_encoder.EOS_ID] in got
    assert encoder.decode(encoder.encode(sample[key])) == sample[key]


# -- malformed samples ------------------------------------------------------------------------
@pytest.mark.parametrize("label", [2, -1, "has_blue", 1.0, True, None])
def test_text2class_bad_label_is_a_user_error(tmp_path, label):
    problem = variant(BlueTopic, VocabType.CHARACTER, generate_samples=lambda self, d, t, s: iter(
        [{"inputs": "a cat", "label": label}]))
    with pytest.raises(UserError, match=r"int 'label' in \[0, 2\)") as err:
        problem.generate_data(str(tmp_path), None)
    assert repr(label) in str(err.value)


def test_missing_text_field_is_a_user_error(tmp_path):
    problem = variant(AlphabetRuns, VocabType.CHARACTER, generate_samples=lambda self, d, t, s:
                      iter([{"inputs": "abc"}]))
    with pytest.raises(UserError, match=r"""str 'targets' \({"targets": str}\); got keys """
                                        r"""\['inputs'\]"""):
        problem.generate_data(str(tmp_path), None)


# -- reading ----------------------------------------------------------------------------------
def test_text2class_dataset_has_one_label_per_example(tmp_path):
    problem = variant(BlueTopic, VocabType.CHARACTER)
    problem.generate_data(str(tmp_path), None)
    batch = next(iter(problem.dataset(ModeKeys.EVAL, str(tmp_path),
                                      problem.input_config(tiny_hparams()))))
    assert batch["inputs"].dtype == tf.int32 and batch["inputs"].shape.rank == 2
    assert batch["targets"].shape[1:] == (1,)
    assert set(batch["targets"].numpy().ravel()) == {0, 1}


# -- training ---------------------------------------------------------------------------------
def test_text2self_language_model_trains(tmp_path):
    data_dir, out = tmp_path / "data", str(tmp_path / "out")
    problem = registry.problem(LM_NAME)
    problem.generate_data(str(data_dir), None)
    trainer = Trainer(problem, "transformer", tiny_hparams(), str(data_dir), out,
                      train_steps=80, eval_steps=10, local_eval_frequency=80, random_seed=1)
    assert trainer.model.encoder is None and trainer.model.decoder is not None  # decoder-only
    before = trainer.evaluate()
    results = trainer.train()
    # Untrained: about uniform over 258 byte ids (log 258 = 5.55 nats per character).
    assert before["neg_log_perplexity"] < -4.5, before
    assert results["neg_log_perplexity"] > -1.5, results
    assert results["loss"] < 0.5 * before["loss"], (before, results)
    assert results["accuracy"] > 0.6, results     # ~0.75 is the ceiling: starts, ends vary

    # Greedy sampling from nothing continues a run of consecutive letters.
    out = trainer.model.infer({"targets": tf.zeros([1, 1], tf.int32)}, extra_length=6)
    text = text_encoder.ByteTextEncoder().decode(text_encoder.cut_at_eos(out["outputs"][0]))
    assert len(text) >= 3 and text in string.ascii_lowercase, text


def test_text2class_transformer_trains_and_decodes_class_names(tmp_path):
    data_dir, out = tmp_path / "data", str(tmp_path / "out")
    data_dir.mkdir()
    problem = registry.problem(CLASS_NAME)
    write_token_vocab(data_dir, problem, WORDS + [KEYWORD])
    problem.generate_data(str(data_dir), None)
    trainer = Trainer(problem, "transformer", tiny_hparams(), str(data_dir), out,
                      train_steps=60, eval_steps=0, local_eval_frequency=60, random_seed=1)
    model = trainer.model
    assert model.encoder_only and model.decoder is None      # T2T: encoder-only classifier
    trainer.train()
    trainer.eval_steps = None                                 # the whole dev split
    results = trainer.evaluate()
    assert results["accuracy"] > 0.95, results

    encoders = problem.get_feature_encoders(str(data_dir))
    decoder = decoder_lib.Decoder(model, encoders["inputs"], encoders["targets"],
                                  decoder_lib.decode_hparams("beam_size=4,batch_size=8"))
    lines = ["the cat sat on the mat", "a big blue dog", "blue", "the red far mat"]
    assert decoder.decode_lines(lines) == ["no_blue", "has_blue", "has_blue", "no_blue"]
    # One class per input, and padding from longer inputs in the batch changes nothing.
    alone = decoder.decode_ids([decoder.encode("blue")])[0]
    padded = decoder.decode_ids([decoder.encode("blue"), decoder.encode(" ".join(WORDS))])[0]
    assert len(alone) == 1 and alone[0][0] == [1] and padded[0][0] == [1]
    assert padded[0][1] == pytest.approx(alone[0][1], abs=1e-5)

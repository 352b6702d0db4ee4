"""Text problems: subclass, set a few properties, write `generate_samples`.

* `Text2TextProblem`: dicts {"inputs": text, "targets": text} (translation, toy tasks).
* `Text2SelfProblem`: dicts {"targets": text}; language modelling (no inputs, so the
  Transformer runs decoder-only).
* `Text2ClassProblem`: dicts {"inputs": text, "label": int in [0, num_classes)}; the
  targets are [label] with the "class_label" modality.

Each turns its samples into encoded, sharded TFRecords, building the vocabulary once from
a bounded sample (`max_samples_for_vocab`) of the training samples' text. Text is encoded
with ids 0 = PAD and 1 = EOS reserved, and every text feature ends in EOS. The settings
are T2T's: `vocab_type`, `approx_vocab_size`, `max_samples_for_vocab`,
`is_generate_per_split`, `dataset_splits`, `vocab_filename`, `oov_token`. They are class
attributes; a subclass sets them as class attributes or, as in T2T, as properties.
"""
import itertools
import numbers
import os

from absl import logging

from data_generators import generator_utils, text_encoder
from data_generators.problem import DatasetSplit, Problem
from t2tlike.errors import UserError


class VocabType:
    CHARACTER = "character"   # UTF-8 bytes
    SUBWORD = "subwords"      # SentencePiece, built from the data
    TOKEN = "tokens"          # whitespace tokens from a vocab file in data_dir


class Text2TextProblem(Problem):
    """Base class for text-to-text problems (translation, summarisation, toy tasks)."""

    _sample_format = '{"inputs": str, "targets": str}'   # for error messages

    dataset_splits = [{"split": DatasetSplit.TRAIN, "shards": 10},
                      {"split": DatasetSplit.EVAL, "shards": 1}]
    # False: generate_samples is called once and its samples are split by shard count.
    is_generate_per_split = True
    vocab_type = VocabType.SUBWORD
    approx_vocab_size = 2 ** 15
    # How many training samples the vocabulary is built from (None: all of them).
    max_samples_for_vocab = 100_000
    oov_token = "<UNK>"
    has_inputs = True

    @property
    def vocab_filename(self):
        if self.vocab_type == VocabType.SUBWORD:
            return f"vocab.{self.dataset_filename()}.{self.approx_vocab_size}.model"
        return f"vocab.{self.dataset_filename()}.{self.vocab_type}"

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Yields dicts {"inputs": str, "targets": str} for one split."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate_samples")

    # -- vocabulary ------------------------------------------------------------------
    def _vocab_samples(self, data_dir, tmp_dir):
        """The first `max_samples_for_vocab` training samples (no more are generated)."""
        samples = self.generate_samples(data_dir, tmp_dir, DatasetSplit.TRAIN)
        return itertools.islice(samples, self.max_samples_for_vocab)

    def generate_text_for_vocab(self, data_dir, tmp_dir):
        """The texts the vocabulary is built from: inputs (if any) and targets."""
        for sample in self._vocab_samples(data_dir, tmp_dir):
            if self.has_inputs:
                yield self._text(sample, "inputs")
            yield self._text(sample, "targets")

    def _text(self, sample, key):
        """sample[key], checked to be a str (a clear error for a malformed sample)."""
        value = sample.get(key) if isinstance(sample, dict) else None
        if not isinstance(value, str):
            got = f"keys {sorted(sample)}" if isinstance(sample, dict) else type(sample).__name__
            raise UserError(f"problem {self.name}: generate_samples must yield dicts with a "
                            f"str {key!r} ({self._sample_format}); got {got}"
                            + (f" with {key!r} = {value!r}" if value is not None else "") + ".")
        return value

    def get_or_create_vocab(self, data_dir, tmp_dir, force_get=False):
        if self.vocab_type == VocabType.CHARACTER:
            return text_encoder.ByteTextEncoder()
        path = os.path.join(data_dir or "", self.vocab_filename)
        if self.vocab_type == VocabType.TOKEN:
            return text_encoder.TokenTextEncoder(path, replace_oov=self.oov_token)
        if self.vocab_type != VocabType.SUBWORD:
            raise UserError(f"problem {self.name}: unknown vocab_type {self.vocab_type!r}; "
                            "expected VocabType.CHARACTER, SUBWORD or TOKEN.")
        if os.path.exists(path) or force_get:
            return text_encoder.SentencePieceEncoder(path)
        logging.info("Building a %d-piece SentencePiece vocabulary from up to %d samples -> %s",
                     self.approx_vocab_size, self.max_samples_for_vocab, path)
        lines = (line for line in self.generate_text_for_vocab(data_dir, tmp_dir) if line.strip())
        return text_encoder.build_sentencepiece(lines, path, self.approx_vocab_size)

    def feature_encoders(self, data_dir):
        encoder = self.get_or_create_vocab(data_dir, None, force_get=True)
        encoders = {"targets": encoder}
        if self.has_inputs:
            encoders["inputs"] = encoder
        return encoders

    # -- generation ------------------------------------------------------------------
    def generate_encoded_samples(self, data_dir, tmp_dir, dataset_split):
        encoder = self.get_or_create_vocab(data_dir, tmp_dir)
        for sample in self.generate_samples(data_dir, tmp_dir, dataset_split):
            encoded = {"targets": encoder.encode(self._text(sample, "targets")) +
                       [text_encoder.EOS_ID]}
            if self.has_inputs:
                encoded["inputs"] = encoder.encode(self._text(sample, "inputs")) + \
                    [text_encoder.EOS_ID]
            yield encoded

    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        paths = {s["split"]: generator_utils.shard_filepaths(
                     data_dir, self.dataset_filename(), s["split"], s["shards"])
                 for s in self.dataset_splits}
        if self.is_generate_per_split:
            for split, split_paths in paths.items():
                generator_utils.generate_files(
                    self.generate_encoded_samples(data_dir, tmp_dir, split), split_paths,
                    shuffle=True)
        else:
            # One stream, cut round-robin into every split's shards (train shards first).
            all_paths = list(itertools.chain.from_iterable(paths.values()))
            generator_utils.generate_files(
                self.generate_encoded_samples(data_dir, tmp_dir, DatasetSplit.TRAIN),
                all_paths, shuffle=True)

    def hparams(self, defaults, model_hparams):
        p = defaults
        p.modality = {"targets": "symbol"}
        p.vocab_size = {"targets": self._encoders["targets"].vocab_size}
        if self.has_inputs:
            p.modality["inputs"] = "symbol"
            p.vocab_size["inputs"] = self._encoders["inputs"].vocab_size


class Text2SelfProblem(Text2TextProblem):
    """Language modelling: samples are {"targets": text}; there are no inputs.

    The problem hparams declare only a "targets" modality (has_inputs False), so the
    Transformer trains as a decoder-only language model. The vocabulary is built from the
    targets alone.
    """

    _sample_format = '{"targets": str}'
    has_inputs = False

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Yields dicts {"targets": str} for one split."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate_samples")


class Text2ClassProblem(Text2TextProblem):
    """Text classification: samples are {"inputs": text, "label": int}.

    Subclasses set `num_classes` and may name the classes with `class_labels`. Encoded
    examples are {"inputs": ids + [EOS], "targets": [label]}; the targets use the
    "class_label" modality (vocab_size = num_classes) and decode to the label's name
    through a ClassLabelEncoder. The vocabulary is built from the inputs alone.
    """

    _sample_format = '{"inputs": str, "label": int}'

    @property
    def num_classes(self):
        raise NotImplementedError(f"{type(self).__name__} must set num_classes")

    def class_labels(self, data_dir):
        """The class names, index = label id (T2T's default: "ID_0", "ID_1", ...)."""
        del data_dir
        return [f"ID_{i}" for i in range(self.num_classes)]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Yields dicts {"inputs": str, "label": int in [0, num_classes)} for one split."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate_samples")

    def generate_text_for_vocab(self, data_dir, tmp_dir):
        for sample in self._vocab_samples(data_dir, tmp_dir):
            yield self._text(sample, "inputs")

    def _label(self, sample):
        label = sample.get("label") if isinstance(sample, dict) else None
        is_int = isinstance(label, numbers.Integral) and not isinstance(label, bool)
        if not is_int or not 0 <= label < self.num_classes:
            raise UserError(f"problem {self.name}: every sample needs an int 'label' in "
                            f"[0, {self.num_classes}) (num_classes = {self.num_classes}); got "
                            f"{label!r}. Map class names to ids with class_labels(data_dir)"
                            ".index(name).")
        return int(label)

    def generate_encoded_samples(self, data_dir, tmp_dir, dataset_split):
        encoder = self.get_or_create_vocab(data_dir, tmp_dir)
        for sample in self.generate_samples(data_dir, tmp_dir, dataset_split):
            inputs = encoder.encode(self._text(sample, "inputs")) + [text_encoder.EOS_ID]
            yield {"inputs": inputs, "targets": [self._label(sample)]}

    def feature_encoders(self, data_dir):
        labels = self.class_labels(data_dir)
        if len(labels) != self.num_classes:
            raise UserError(f"problem {self.name}: class_labels gives {len(labels)} names but "
                            f"num_classes is {self.num_classes}; they must match.")
        return {"inputs": self.get_or_create_vocab(data_dir, None, force_get=True),
                "targets": text_encoder.ClassLabelEncoder(labels)}

    def hparams(self, defaults, model_hparams):
        p = defaults
        p.modality = {"inputs": "symbol", "targets": "class_label"}
        p.vocab_size = {"inputs": self._encoders["inputs"].vocab_size,
                        "targets": self.num_classes}

    def example_reading_spec(self):
        """inputs: a variable-length id sequence; targets: exactly one label id."""
        import tensorflow as tf
        data_fields = {"inputs": tf.io.VarLenFeature(tf.int64),
                       "targets": tf.io.FixedLenFeature([1], tf.int64)}
        return data_fields, None

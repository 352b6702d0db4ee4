"""Text problems: subclass, set a few properties, write `generate_samples`.

`Text2TextProblem` turns dicts of {"inputs": text, "targets": text} into encoded,
sharded TFRecords, building the vocabulary once from a bounded sample of the samples.
The properties are T2T's: `vocab_type`, `approx_vocab_size`, `max_samples_for_vocab`,
`is_generate_per_split`, `dataset_splits`, `vocab_filename`, `oov_token`.
"""
import itertools
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

    @property
    def dataset_splits(self):
        return [{"split": DatasetSplit.TRAIN, "shards": 10},
                {"split": DatasetSplit.EVAL, "shards": 1}]

    @property
    def is_generate_per_split(self):
        """False: generate_samples is called once and its samples are split by shard count."""
        return True

    @property
    def vocab_type(self):
        return VocabType.SUBWORD

    @property
    def approx_vocab_size(self):
        return 2 ** 15

    @property
    def max_samples_for_vocab(self):
        """How many samples the vocabulary is built from (a bounded sample, never all)."""
        return 100_000

    @property
    def oov_token(self):
        return "<UNK>"

    @property
    def vocab_filename(self):
        if self.vocab_type == VocabType.SUBWORD:
            return f"vocab.{self.dataset_filename()}.{self.approx_vocab_size}.model"
        return f"vocab.{self.dataset_filename()}.{self.vocab_type}"

    @property
    def has_inputs(self):
        return True

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Yields dicts {"inputs": str, "targets": str} for one split."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate_samples")

    # -- vocabulary ------------------------------------------------------------------
    def generate_text_for_vocab(self, data_dir, tmp_dir):
        for i, sample in enumerate(self.generate_samples(data_dir, tmp_dir, DatasetSplit.TRAIN)):
            if i >= self.max_samples_for_vocab:
                break
            if self.has_inputs:
                yield sample["inputs"]
            yield sample["targets"]

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
            encoded = {"targets": encoder.encode(sample["targets"]) + [text_encoder.EOS_ID]}
            if self.has_inputs:
                encoded["inputs"] = encoder.encode(sample["inputs"]) + [text_encoder.EOS_ID]
            yield encoded

    def generate_data(self, data_dir, tmp_dir, task_id=-1):
        paths = {s["split"]: generator_utils.shard_filepaths(
                     data_dir, self.dataset_filename(), s["split"], s["shards"])
                 for s in self.dataset_splits}
        if self.is_generate_per_split:
            for split, split_paths in paths.items():
                written = generator_utils.generate_files(
                    self.generate_encoded_samples(data_dir, tmp_dir, split), split_paths)
                if written:
                    generator_utils.shuffle_dataset(split_paths)
        else:
            # One stream, cut round-robin into every split's shards (train shards first).
            all_paths = list(itertools.chain.from_iterable(paths.values()))
            if generator_utils.generate_files(
                    self.generate_encoded_samples(data_dir, tmp_dir, DatasetSplit.TRAIN),
                    all_paths):
                generator_utils.shuffle_dataset(all_paths)

    def hparams(self, defaults, model_hparams):
        p = defaults
        p.modality = {"targets": "symbol"}
        p.vocab_size = {"targets": self._encoders["targets"].vocab_size}
        if self.has_inputs:
            p.modality["inputs"] = "symbol"
            p.vocab_size["inputs"] = self._encoders["inputs"].vocab_size

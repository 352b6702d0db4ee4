"""Multi30k task 1 (image-caption translation), English -> German and English -> French.

The official raw files of https://github.com/multi30k/dataset (data/task1/raw/): train
(29,000 pairs), val (1,014; our dev split) and test_2016_flickr (1,000; our test split),
one gzipped caption a line, untokenized. They are read from tmp_dir, or downloaded there
from the repository when absent (`t2t-datagen ... --tmp_dir=` a folder that holds
train.en.gz, train.de.gz, ... uses them as they are).

Each problem shares one SentencePiece vocabulary of about 8,000 pieces between source
and target, built from the whole training split. `_rev` gives de->en and fr->en.

`translate_ende_multi30k_small` is the low-resource variant: the first 10% of the training
pairs (2,900; dev and test unchanged), for multi-task experiments (docs/multitask.md).

`multi_translate_multi30k` trains en->de and en->fr in one model (a MultiProblem, see
data_generators/multi_problem.py).
"""
import itertools

from data_generators.multi_problem import MultiProblem
from data_generators.problem import DatasetSplit
from data_generators.translate import TranslateProblem
from t2tlike import registry

MULTI30K_URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/"
SPLIT_PREFIXES = {DatasetSplit.TRAIN: "train", DatasetSplit.EVAL: "val",
                  DatasetSplit.TEST: "test_2016_flickr"}
SPLIT_SIZES = {DatasetSplit.TRAIN: 29_000, DatasetSplit.EVAL: 1_014, DatasetSplit.TEST: 1_000}
MULTI30K_SPLITS = [{"split": DatasetSplit.TRAIN, "shards": 10},
                   {"split": DatasetSplit.EVAL, "shards": 1},
                   {"split": DatasetSplit.TEST, "shards": 1}]


def multi30k_source_data_files(dataset_split, source, target):
    """[[folder URL, (prefix.source.gz, prefix.target.gz)]] for one split."""
    prefix = SPLIT_PREFIXES[dataset_split]
    return [[MULTI30K_URL, (f"{prefix}.{source}.gz", f"{prefix}.{target}.gz")]]


@registry.register_problem
class TranslateEndeMulti30k(TranslateProblem):
    """Multi30k en->de: 29k training captions, shared 8k-piece SentencePiece vocabulary."""

    approx_vocab_size = 8000
    max_samples_for_vocab = SPLIT_SIZES[DatasetSplit.TRAIN]   # the whole training split
    dataset_splits = MULTI30K_SPLITS

    def source_data_files(self, dataset_split):
        return multi30k_source_data_files(dataset_split, "en", "de")


@registry.register_problem
class TranslateEnfrMulti30k(TranslateProblem):
    """Multi30k en->fr: 29k training captions, shared 8k-piece SentencePiece vocabulary."""

    approx_vocab_size = 8000
    max_samples_for_vocab = SPLIT_SIZES[DatasetSplit.TRAIN]
    dataset_splits = MULTI30K_SPLITS

    def source_data_files(self, dataset_split):
        return multi30k_source_data_files(dataset_split, "en", "fr")


@registry.register_problem
class TranslateEndeMulti30kSmall(TranslateProblem):
    """Multi30k en->de trained on the first `train_fraction` of the training pairs (10%:
    2,900 pairs), the same dev and test splits: a low-resource task beside full en->fr.
    Its own vocabulary (when trained alone) has 4k pieces, built from those pairs only."""

    train_fraction = 0.1
    approx_vocab_size = 4000
    dataset_splits = MULTI30K_SPLITS

    @property
    def num_train_pairs(self):
        return round(SPLIT_SIZES[DatasetSplit.TRAIN] * self.train_fraction)

    @property
    def max_samples_for_vocab(self):
        return self.num_train_pairs

    def source_data_files(self, dataset_split):
        return multi30k_source_data_files(dataset_split, "en", "de")

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        samples = super().generate_samples(data_dir, tmp_dir, dataset_split)
        if dataset_split == DatasetSplit.TRAIN:
            samples = itertools.islice(samples, self.num_train_pairs)
        yield from samples


@registry.register_problem
class MultiTranslateMulti30k(MultiProblem):
    """Multi30k en->de and en->fr in one model: a shared 8k-piece SentencePiece vocabulary
    over all four sides, the target language's task tag on the English source."""

    approx_vocab_size = 8000
    max_samples_for_vocab = 4 * SPLIT_SIZES[DatasetSplit.TRAIN]   # every line

    def __init__(self, was_reversed=False):
        super().__init__(was_reversed)
        self.task_list.append(TranslateEndeMulti30k())
        self.task_list.append(TranslateEnfrMulti30k())

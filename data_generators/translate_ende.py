"""WMT English -> German, with T2T's corpora and names (`_rev` gives German -> English).

* train: News Commentary v13, Europarl v7 and Common Crawl (about 4.5M pairs);
* dev: newstest2013 (3,000 pairs);
* test: newstest2014 (3,003 pairs, the "full" set of dev.tgz's .sgm files; the <seg>
  contents are kept, as sacreBLEU's wmt14/full reads them).

The URLs and member names are those of T2T's translate_ende.py (its dev.tgz is WMT17's,
which holds both newstest2013 and newstest2014). Archives are downloaded once into
tmp_dir and read in place; every problem here shares them.

`translate_ende_wmt32k` (T2T's name) is a registry alias of `translate_ende`: one
problem, with the same 32k-piece SentencePiece vocabulary and the same files
(translate_ende-* shards and vocab.translate_ende.32768.model), so data generated under
either name serves both. `translate_ende_wmt8k` has its own 8k-piece vocabulary and files.
"""
from data_generators.problem import DatasetSplit
from data_generators.translate import TranslateProblem
from t2tlike import registry

ENDE_TRAIN_DATASETS = [
    ["http://data.statmt.org/wmt18/translation-task/training-parallel-nc-v13.tgz",
     ("training-parallel-nc-v13/news-commentary-v13.de-en.en",
      "training-parallel-nc-v13/news-commentary-v13.de-en.de")],
    ["http://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz",
     ("commoncrawl.de-en.en", "commoncrawl.de-en.de")],
    ["http://www.statmt.org/wmt13/training-parallel-europarl-v7.tgz",
     ("training/europarl-v7.de-en.en", "training/europarl-v7.de-en.de")],
]
ENDE_DEV_DATASETS = [
    ["http://data.statmt.org/wmt17/translation-task/dev.tgz",
     ("dev/newstest2013.en", "dev/newstest2013.de")],
]
ENDE_TEST_DATASETS = [
    ["http://data.statmt.org/wmt17/translation-task/dev.tgz",
     ("dev/newstest2014-deen-src.en.sgm", "dev/newstest2014-deen-ref.de.sgm")],
]


def ende_source_data_files(dataset_split):
    """T2T's `_ENDE_TRAIN_DATASETS` / eval datasets, plus newstest2014 as the test split."""
    return {DatasetSplit.TRAIN: ENDE_TRAIN_DATASETS, DatasetSplit.EVAL: ENDE_DEV_DATASETS,
            DatasetSplit.TEST: ENDE_TEST_DATASETS}[dataset_split]


WMT_SPLITS = [{"split": DatasetSplit.TRAIN, "shards": 100},
              {"split": DatasetSplit.EVAL, "shards": 1},
              {"split": DatasetSplit.TEST, "shards": 1}]


@registry.register_problem
class TranslateEnde(TranslateProblem):
    """WMT en->de with a shared 32k-piece SentencePiece vocabulary (2**15 requested)."""

    approx_vocab_size = 2 ** 15
    max_samples_for_vocab = 300_000   # pairs, a third from each training corpus
    dataset_splits = WMT_SPLITS

    def source_data_files(self, dataset_split):
        return ende_source_data_files(dataset_split)


registry.problems.register_alias("translate_ende_wmt32k", "translate_ende")
TranslateEndeWmt32k = TranslateEnde   # T2T's class name, for user code that subclasses it


@registry.register_problem
class TranslateEndeWmt8k(TranslateProblem):
    """WMT en->de with a shared 8k-piece SentencePiece vocabulary (2**13 requested)."""

    approx_vocab_size = 2 ** 13
    max_samples_for_vocab = 300_000
    dataset_splits = WMT_SPLITS

    def source_data_files(self, dataset_split):
        return ende_source_data_files(dataset_split)

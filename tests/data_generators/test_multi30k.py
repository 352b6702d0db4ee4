"""data_generators/multi30k.py on the real Multi30k task-1 files in ../shared/data/multi30k
(skipped when that folder is absent)."""
import gzip
import itertools
import os
from pathlib import Path

import pytest

import helpers
from data_generators import multi30k, text_encoder
from t2tlike import registry
from t2tlike.errors import UserError

MULTI30K_DIR = Path(__file__).resolve().parents[2].parent / "shared/data/multi30k"
SIZES = {"train": 29_000, "dev": 1_014, "test": 1_000}
FILES = {"train": "train", "dev": "val", "test": "test_2016_flickr"}

needs_data = pytest.mark.skipif(not (MULTI30K_DIR / "train.en.gz").exists(),
                                reason=f"Multi30k files not found in {MULTI30K_DIR}")


def count_records(paths):
    import tensorflow as tf
    return int(tf.data.TFRecordDataset(paths).reduce(0, lambda n, _: n + 1)) if paths else 0


def read_gz(name):
    with gzip.open(MULTI30K_DIR / name, "rt", encoding="utf-8") as f:
        return [line.strip() for line in f]


class SmallVocabEndeMulti30k(multi30k.TranslateEndeMulti30k):
    """translate_ende_multi30k with a smaller vocabulary built from fewer pairs (fast)."""

    approx_vocab_size = 1000
    max_samples_for_vocab = 3000


def test_registered_names_and_settings():
    for name, target in (("translate_ende_multi30k", "de"), ("translate_enfr_multi30k", "fr")):
        problem = registry.problem(name)
        assert problem.approx_vocab_size == 8000
        assert problem.vocab_filename == f"vocab.{name}.8000.model"
        assert [s["split"] for s in problem.dataset_splits] == ["train", "dev", "test"]
        for split, prefix in FILES.items():
            (url, members), = problem.source_data_files(split)
            assert url == "https://github.com/multi30k/dataset/raw/master/data/task1/raw/"
            assert members == (f"{prefix}.en.gz", f"{prefix}.{target}.gz")
        assert registry.problem(name + "_rev").was_reversed


def test_offline_error_names_the_repository_files(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as err:
        registry.problem("translate_enfr_multi30k").generate_data(str(tmp_path / "d"),
                                                                  str(tmp_path))
    message = str(err.value)
    assert "could not download 6 source file(s)" in message
    for prefix in FILES.values():
        for lang in ("en", "fr"):
            assert f"{tmp_path / prefix}.{lang}.gz" in message
            assert f"{multi30k.MULTI30K_URL}{prefix}.{lang}.gz" in message


@needs_data
@pytest.mark.parametrize("name", ["translate_ende_multi30k", "translate_enfr_multi30k"])
def test_samples_match_the_official_files(name):
    problem = registry.problem(name)
    target = name[len("translate_en"):][:2]
    for split, prefix in FILES.items():
        samples = list(problem.generate_samples(None, str(MULTI30K_DIR), split))
        assert len(samples) == SIZES[split]
        assert samples[0] == {"inputs": read_gz(f"{prefix}.en.gz")[0],
                              "targets": read_gz(f"{prefix}.{target}.gz")[0]}


@needs_data
def test_datagen_writes_every_split_with_a_shared_vocab(tmp_path):
    data_dir = tmp_path / "data"
    problem = SmallVocabEndeMulti30k()
    problem.generate_data(str(data_dir), str(MULTI30K_DIR))
    counts = {split: count_records(helpers.split_paths(data_dir, problem, split))
              for split in SIZES}
    assert counts == SIZES
    assert len(helpers.split_paths(data_dir, problem, "train")) == 10
    assert helpers.temp_files(data_dir) == []
    encoders = problem.get_feature_encoders(str(data_dir))
    assert encoders["inputs"] is encoders["targets"]              # one shared vocabulary
    assert 900 <= encoders["inputs"].vocab_size <= 1000
    decoded = {(encoders["inputs"].decode(r["inputs"], strip_extraneous=True),
                encoders["targets"].decode(r["targets"], strip_extraneous=True))
               for r in helpers.read_records(helpers.split_paths(data_dir, problem, "dev"))}
    official = set(zip(read_gz("val.en.gz"), read_gz("val.de.gz")))
    assert len(decoded & official) >= 0.98 * len(official)       # lossless up to NFKC
    assert os.path.basename(encoders["inputs"].model_path) == problem.vocab_filename
    assert isinstance(encoders["inputs"], text_encoder.SentencePieceEncoder)
    assert problem.get_hparams(data_dir=str(data_dir)).vocab_size == {
        "inputs": encoders["inputs"].vocab_size, "targets": encoders["inputs"].vocab_size}


@needs_data
def test_small_variant_keeps_the_first_tenth_of_training_and_every_dev_and_test_pair():
    problem = registry.problem("translate_ende_multi30k_small")
    assert problem.vocab_filename == "vocab.translate_ende_multi30k_small.4000.model"
    full = registry.problem("translate_ende_multi30k")
    train = list(problem.generate_samples(None, str(MULTI30K_DIR), "train"))
    assert len(train) == 2900
    assert train == list(itertools.islice(full.generate_samples(None, str(MULTI30K_DIR),
                                                                "train"), 2900))
    for split in ("dev", "test"):
        assert len(list(problem.generate_samples(None, str(MULTI30K_DIR), split))) == SIZES[split]
    vocab_lines = problem.generate_text_for_vocab(None, str(MULTI30K_DIR))
    assert vocab_lines[-2:] == [train[-1]["inputs"], train[-1]["targets"]]
    assert len(vocab_lines) == 2 * 2900                    # its vocabulary sees the subset only

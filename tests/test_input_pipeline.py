"""t2tlike/input_pipeline.py: InputConfig, length buckets, batching by token count, length
filtering."""
import dataclasses
import random

import numpy as np
import pytest
import tensorflow as tf

from t2tlike import input_pipeline
from t2tlike.errors import UserError
from t2tlike.hparams import HParams
from t2tlike.input_pipeline import InputConfig


def make_dataset(lengths, seed=0):
    """Unbatched examples {"inputs", "targets": 1-D int64 of ids >= 2, "id": scalar}."""
    rng = random.Random(seed)
    examples = []
    for i, (n_in, n_tgt) in enumerate(lengths):
        examples.append({"inputs": [rng.randint(2, 9) for _ in range(n_in)],
                         "targets": [rng.randint(2, 9) for _ in range(n_tgt)], "id": i})

    def gen():
        for ex in examples:
            yield {"inputs": np.array(ex["inputs"], np.int64),
                   "targets": np.array(ex["targets"], np.int64), "id": np.int64(ex["id"])}

    signature = {"inputs": tf.TensorSpec([None], tf.int64),
                 "targets": tf.TensorSpec([None], tf.int64), "id": tf.TensorSpec([], tf.int64)}
    return tf.data.Dataset.from_generator(gen, output_signature=signature), examples


def random_lengths(n, max_length, seed=1):
    rng = random.Random(seed)
    return [(rng.randint(1, max_length), rng.randint(1, max_length)) for _ in range(n)]


# -- bucket_boundaries ----------------------------------------------------------------------
def test_bucket_boundaries_are_geometric_from_min_length():
    assert input_pipeline.bucket_boundaries(100, 8, 1.5) == [8, 12, 18, 27, 40, 60, 90]
    assert input_pipeline.bucket_boundaries(12, 8, 1.1) == [8, 9, 10, 11]   # step >= 1
    assert input_pipeline.bucket_boundaries(8, 8, 1.1) == []


def test_bucket_boundaries_t2t_defaults():
    bounds = input_pipeline.bucket_boundaries(256)
    assert bounds[0] == 8 and bounds[-1] < 256
    assert all(b > a for a, b in zip(bounds, bounds[1:]))
    # spacing grows geometrically: each step is max(1, ~10%)
    assert all(b == max(a + 1, int(a * 1.1)) for a, b in zip(bounds, bounds[1:]))


@pytest.mark.parametrize("step", [1.0, 0.9])
def test_bucket_boundaries_reject_steps_that_do_not_grow(step):
    with pytest.raises(ValueError, match="length_bucket_step must be > 1.0"):
        input_pipeline.bucket_boundaries(100, 8, step)


# -- example_length / filter_by_max_length ---------------------------------------------------
def test_example_length_is_the_longest_sequence_feature():
    ex = {"inputs": tf.zeros([3], tf.int64), "targets": tf.zeros([7], tf.int64),
          "id": tf.constant(100, tf.int64)}
    assert int(input_pipeline.example_length(ex)) == 7
    assert int(input_pipeline.example_length({"targets": tf.zeros([4])})) == 4


def test_filter_by_max_length_drops_examples_with_either_feature_too_long():
    lengths = [(3, 3), (10, 2), (2, 10), (11, 1), (1, 11), (10, 10)]
    ds, _ = make_dataset(lengths)
    kept = [int(ex["id"]) for ex in input_pipeline.filter_by_max_length(ds, 10)]
    assert kept == [0, 1, 2, 5]
    ds, _ = make_dataset(lengths)
    assert len(list(input_pipeline.filter_by_max_length(ds, 0))) == len(lengths)   # 0 keeps all


# -- batch_by_tokens ------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size, max_length, min_length, step", [
    (64, 30, 8, 1.1),
    (100, 50, 4, 1.5),
    (37, 20, 8, 1.1),     # batch_size not a multiple of any boundary
])
def test_batch_by_tokens_keeps_batches_within_the_token_budget(batch_size, max_length,
                                                              min_length, step):
    lengths = random_lengths(300, max_length)
    ds, examples = make_dataset(lengths)
    batches = list(input_pipeline.batch_by_tokens(
        ds, batch_size, max_length, min_length=min_length, length_bucket_step=step)
        .as_numpy_iterator())
    seen = []
    for batch in batches:
        rows, padded = batch["targets"].shape
        assert batch["inputs"].shape[0] == rows
        longest = max(batch["inputs"].shape[1], padded)
        # the padded longest length times the number of sequences fits the budget
        assert rows * longest <= batch_size, (rows, longest)
        seen.extend(batch["id"].tolist())
    assert sorted(seen) == list(range(len(examples)))          # nothing lost or repeated
    # and batching actually groups sequences (not one per batch)
    assert len(batches) < 0.75 * len(examples)


def test_batch_by_tokens_pads_with_zero_to_the_longest_in_the_batch():
    ds, examples = make_dataset(random_lengths(120, 20, seed=3))
    for batch in input_pipeline.batch_by_tokens(ds, 64, 20).as_numpy_iterator():
        for feature in ("inputs", "targets"):
            lengths = []
            for row, ex_id in zip(batch[feature], batch["id"]):
                original = examples[ex_id][feature]
                lengths.append(len(original))
                assert row[:len(original)].tolist() == original
                assert not row[len(original):].any()            # padding is 0
            assert batch[feature].shape[1] == max(lengths)      # no padding past the longest


def test_batch_by_tokens_groups_similar_lengths():
    # Short and long examples interleaved: buckets keep them apart, so padding stays low.
    lengths = [(2, 2), (40, 40)] * 50
    ds, _ = make_dataset(lengths)
    batches = list(input_pipeline.batch_by_tokens(ds, 400, 40).as_numpy_iterator())
    for batch in batches:
        assert float(input_pipeline.padding_fraction(batch)) == 0.0


def test_batch_by_tokens_drop_remainder():
    ds, _ = make_dataset([(5, 5)] * 10)
    batches = list(input_pipeline.batch_by_tokens(ds, 16, 8, min_length=8,
                                                  drop_remainder=True).as_numpy_iterator())
    assert [b["targets"].shape for b in batches] == [(2, 5)] * 5
    ds, _ = make_dataset([(5, 5)] * 9)
    batches = list(input_pipeline.batch_by_tokens(ds, 16, 8, min_length=8,
                                                  drop_remainder=True).as_numpy_iterator())
    assert len(batches) == 4


def test_padding_fraction():
    batch = {"targets": tf.constant([[3, 4, 0, 0], [5, 0, 0, 0]])}
    assert float(input_pipeline.padding_fraction(batch)) == pytest.approx(5 / 8)


# -- InputConfig ----------------------------------------------------------------------------
def input_hparams(**overrides):
    """basic_params1's input keys, with overrides."""
    return HParams(batch_size=4096, max_length=0, min_length_bucket=8, length_bucket_step=1.1,
                   eval_drop_long_sequences=False, multiproblem_mixing="batch").replace(
                       **overrides)


def test_input_config_from_hparams_reads_the_input_keys():
    hp = input_hparams(batch_size=2048, max_length=100, min_length_bucket=4,
                       length_bucket_step=1.5, eval_drop_long_sequences=True,
                       multiproblem_mixing="example")
    hp.add_hparam("hidden_size", 512)                        # model keys are not read
    assert InputConfig.from_hparams(hp) == InputConfig(
        batch_size=2048, max_length=100, min_length_bucket=4, length_bucket_step=1.5,
        eval_drop_long_sequences=True, multiproblem_mixing="example")
    assert InputConfig.from_hparams(hp, max_length=7).max_length == 7   # a resolved limit
    assert InputConfig.from_hparams(input_hparams(batch_size=300)).max_length == 300
    assert InputConfig() == InputConfig(batch_size=4096, max_length=4096)
    with pytest.raises(TypeError, match="expects model hparams"):
        InputConfig.from_hparams(InputConfig())


@pytest.mark.parametrize("field, value, message", [
    ("length_bucket_step", 1.0, "length_bucket_step must be > 1.0"),
    ("length_bucket_step", 0.9, "length_bucket_step must be > 1.0"),
    ("batch_size", 0, "batch_size must be an integer >= 1"),
    ("max_length", -1, "max_length must be an integer >= 0"),
    ("min_length_bucket", 0, "min_length_bucket must be an integer >= 1"),
    ("eval_drop_long_sequences", "yes", "eval_drop_long_sequences must be True or False"),
    ("multiproblem_mixing", "task", "multiproblem_mixing must be"),
])
def test_input_config_checks_its_values(field, value, message):
    with pytest.raises(UserError, match=message):
        InputConfig(**{field: value})
    if not isinstance(value, str) or field == "multiproblem_mixing":   # HParams is typed
        with pytest.raises(UserError, match=message):
            InputConfig.from_hparams(input_hparams(**{field: value}))
    with pytest.raises(UserError, match=message):
        dataclasses.replace(InputConfig(), **{field: value})


def test_input_config_is_frozen_and_names_its_fields_on_a_miss():
    config = InputConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 1
    with pytest.raises(AttributeError, match="InputConfig has no field 'hidden_size'; its "
                                             "fields: batch_size, max_length"):
        config.hidden_size
    assert not hasattr(config, "hidden_size")
    assert hash(config) == hash(InputConfig())


def test_check_input_config_refuses_model_hparams():
    assert input_pipeline.check_input_config(None) == InputConfig()
    config = InputConfig(batch_size=64)
    assert input_pipeline.check_input_config(config) is config
    with pytest.raises(TypeError, match="Problem.dataset expects an InputConfig .*got HParams"):
        input_pipeline.check_input_config(input_hparams())

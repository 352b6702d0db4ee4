"""t2tlike/models/multimodel.py: a head per task chosen in graph mode, padded logits, the
task-free targets weights, decoding per head, and training a text task and a
classification task together with the real Trainer.

One MultiProblem (copying short binary strings + the majority bit of a binary string) is
generated once for the module (about a second).
"""
import os
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

import helpers
import t2tlike.models  # noqa: F401  (registers the model and its hparams sets)
from data_generators import algorithmic
from data_generators.multi_problem import MultiProblem
from data_generators.problem import DatasetSplit, ModeKeys
from data_generators.text_problems import Text2ClassProblem
from t2tlike import tracing
from t2tlike.errors import UserError
from t2tlike.hparams import HParams, create_hparams
from t2tlike.layers.modalities import ClassLabelModality, SymbolModality
from t2tlike.models.multimodel import TaskTargetModality
from t2tlike.training.trainer import Trainer, build_model

TinyCopy = helpers.tiny_problem_class(algorithmic.AlgorithmicIdentityBinary40, train_size=400,
                                      dev_size=64, test_size=0, num_shards=1, train_length=6,
                                      dev_length=6)
TEXT, CLASS = 0, 1


class Majority(Text2ClassProblem):
    """Label 1 iff most bits of an odd-length binary string are 1."""
    num_classes = 2
    dataset_splits = [{"split": DatasetSplit.TRAIN, "shards": 1},
                      {"split": DatasetSplit.EVAL, "shards": 1}]

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        rng = random.Random(f"majority/{dataset_split}")
        for _ in range(400 if dataset_split == DatasetSplit.TRAIN else 128):
            bits = [rng.randint(0, 1) for _ in range(rng.choice([3, 5, 7]))]
            yield {"inputs": " ".join(map(str, bits)), "label": int(2 * sum(bits) > len(bits))}


class CopyAndMajority(MultiProblem):
    approx_vocab_size = 24

    def __init__(self, was_reversed=False):
        super().__init__(was_reversed)
        self.task_list += [TinyCopy(), Majority()]


def _hparams(**overrides):
    return create_hparams("multimodel_tiny").replace(**{
        **dict(hidden_size=32, filter_size=64, num_heads=2, num_hidden_layers=1,
               batch_size=256, max_length=32, learning_rate_warmup_steps=40,
               learning_rate_constant=1.0, **helpers.NO_DROPOUT), **overrides})


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(problem, data_dir), generated once for the module."""
    data_dir = str(tmp_path_factory.mktemp("multimodel"))
    problem = CopyAndMajority()
    problem.generate_data(data_dir, os.path.join(data_dir, "tmp"))
    return problem, data_dir


def _batch(problem, data_dir, task, n=4):
    """The first n dev examples of `task`, batched (padded) as the trainer reads them."""
    ds = problem.dataset(ModeKeys.EVAL, data_dir, problem.input_config(_hparams()),
                         batched=False, task=task)
    return next(iter(ds.padded_batch(n)))


# -- problem hparams -------------------------------------------------------------------------
def test_multi_problem_publishes_each_tasks_modalities(generated):
    problem, data_dir = generated
    hp = problem.get_hparams(_hparams(), data_dir)
    vocab = problem.get_feature_encoders(data_dir)["inputs"].vocab_size
    # What a model that ignores tasks reads is unchanged: the shared vocabulary.
    assert hp.modality == {"inputs": "symbol", "targets": "symbol"}
    assert hp.vocab_size == {"inputs": vocab, "targets": vocab}
    assert hp.num_tasks == 2
    assert hp.task_modality == [{"inputs": "symbol", "targets": "symbol"},
                                {"inputs": "symbol", "targets": "class_label"}]
    assert hp.task_vocab_size == [{"inputs": vocab, "targets": vocab},
                                  {"inputs": vocab, "targets": 2}]
    assert HParams.from_json(hp.to_json()) == hp
    # A model that ignores the tasks still trains on the shared vocabulary.
    text = _batch(problem, data_dir, TEXT)
    plain = build_model("transformer", _hparams(), hp)
    assert plain(text).shape == text["targets"].shape + (vocab,)


# -- the model -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(generated):
    problem, data_dir = generated
    keras.utils.set_random_seed(0)
    return build_model("multimodel", _hparams(), problem.get_hparams(_hparams(), data_dir))


def test_each_task_gets_its_own_head_and_all_weights_exist_before_any_call(generated, model):
    problem, data_dir = generated
    heads = model.target_modality.heads
    assert [type(h) for h in heads] == [SymbolModality, ClassLabelModality]
    assert model.target_modality.task_heads == [TEXT, CLASS]
    vocab = problem.get_feature_encoders(data_dir)["inputs"].vocab_size
    assert model.target_modality.vocab_size == vocab
    names = [v.path for v in model.trainable_variables]
    assert len(names) == len(set(names))
    assert any("classifier" in n for n in names) and any("decoder" in n for n in names)


def test_a_checkpoint_restores_every_head(generated, model, tmp_path):
    problem, data_dir = generated
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(7)
    other = build_model("multimodel", _hparams(), problem.get_hparams(_hparams(), data_dir))
    tf.train.Checkpoint(model=other).restore(path).assert_existing_objects_matched()
    for mine, theirs in zip(model.trainable_variables, other.trainable_variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert [model.task_is_class_label(t) for t in (TEXT, CLASS)] == [False, True]


def test_the_switch_selects_the_batchs_task_in_graph_mode(generated, model, cpu_kind):
    """Under `auto` on both CPU kinds: the logits (padding included) are float32 even when
    the layers compute in bfloat16. One traced function gives the logits and the loss."""
    problem, data_dir = generated
    if model.precision != cpu_kind:    # (the module's model serves the kind it was built on)
        keras.utils.set_random_seed(0)
        model = build_model("multimodel", _hparams(mixed_precision="auto"),
                            problem.get_hparams(_hparams(), data_dir))
    assert _hparams().mixed_precision == "auto" and model.precision == cpu_kind
    tol = 1e-5 if cpu_kind == "none" else 2e-2
    text, label = _batch(problem, data_dir, TEXT), _batch(problem, data_dir, CLASS)
    width = model.target_modality.vocab_size
    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("inputs", "targets", "task_id")}

    def forward_and_loss(features):
        logits = model(features, training=False)
        return logits, model.training_loss(logits, features)

    step = tracing.Function(forward_and_loss, input_signature=[spec])   # as the trainer traces
    assert step.get_concrete_function().structured_outputs[0].shape.as_list() == \
        [None, None, width]
    batch_len = text["targets"].shape[1]
    for batch, head, length in ((text, TEXT, batch_len), (label, CLASS, 1)):
        logits, loss = step(batch)
        own = model.head_logits(head, batch).numpy()
        assert logits.dtype == tf.float32 and logits.shape == (4, length, width)
        logits = logits.numpy()
        np.testing.assert_allclose(logits[..., :own.shape[-1]], own, rtol=tol, atol=tol)
        assert (logits[..., own.shape[-1]:] == np.finfo(np.float32).min).all()
        expected = model.target_modality.heads[head].loss(own, batch["targets"])
        np.testing.assert_allclose([float(t) for t in loss],
                                   [float(t) for t in expected], rtol=tol)
    assert batch_len > 1
    assert step.experimental_get_tracing_count() == 1   # one trace serves both tasks
    # The tag on the inputs selects the task when the features carry no task_id.
    untagged = {"inputs": label["inputs"], "targets": label["targets"]}
    assert model(untagged).shape[1] == 1


def test_targets_weights_need_no_task():
    heads = [SymbolModality(10, 8), ClassLabelModality(3, 8)]
    modality = TaskTargetModality(heads, [0, 1])
    np.testing.assert_array_equal(modality.targets_weights(tf.constant([[0], [2]])), [[1], [1]])
    np.testing.assert_array_equal(modality.targets_weights(tf.constant([[1], [1]])), [[1], [1]])
    np.testing.assert_array_equal(modality.targets_weights(tf.constant([[4, 1, 0], [1, 0, 0]])),
                                  [[1, 1, 0], [1, 0, 0]])
    text_only = TaskTargetModality([SymbolModality(10, 8)], [0, 0])
    np.testing.assert_array_equal(text_only.targets_weights(tf.constant([[0], [2]])), [[0], [1]])


def test_infer_decodes_text_and_classifies_by_the_tag(generated, model):
    problem, data_dir = generated
    text, label = _batch(problem, data_dir, TEXT), _batch(problem, data_dir, CLASS)
    signature = [tf.TensorSpec([None, None], tf.int32)]   # as the Decoder calls it
    infer = tracing.Function(lambda ids: model.infer({"inputs": ids}, extra_length=3,
                                                     return_beams=True),
                             input_signature=signature)
    out = infer(label["inputs"])
    assert out["outputs"].shape == (4, 1, 1) and out["scores"].shape == (4, 1)
    logits = model.head_logits(CLASS, {"inputs": label["inputs"], "targets": label["targets"]})
    np.testing.assert_array_equal(out["outputs"][:, 0, 0], np.argmax(logits[:, 0], axis=-1))
    out = infer(text["inputs"])
    assert out["outputs"].shape == (4, 1, text["inputs"].shape[1] + 3)
    beams = model.infer({"inputs": text["inputs"]}, beam_size=2, extra_length=3)
    assert beams["outputs"].shape[0] == 4 and beams["scores"].shape == (4,)
    mixed = tf.concat([text["inputs"][:1, :3], label["inputs"][:1, :3]], axis=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one head"):
        model.infer({"inputs": mixed})
    with pytest.raises(tf.errors.InvalidArgumentError, match="must start with a task tag"):
        model.infer({"inputs": tf.constant([[3, 1]], tf.int32)})


def test_unshared_targets_give_each_task_its_own_head(generated):
    problem, data_dir = generated
    hp = problem.get_hparams(_hparams(), data_dir)   # + a second text task in front
    three = HParams(**{**hp.values(), "num_tasks": 3,
                       "task_modality": hp.task_modality[:1] + hp.task_modality,
                       "task_vocab_size": hp.task_vocab_size[:1] + hp.task_vocab_size})
    shared = build_model("multimodel", _hparams(), three)
    own = build_model("multimodel", _hparams(multimodel_share_targets=False), three)
    assert shared.target_modality.task_heads == [0, 0, 1]
    assert own.target_modality.task_heads == [0, 1, 2]


def test_unsupported_targets_are_a_user_error(generated):
    problem, data_dir = generated
    hp = problem.get_hparams(_hparams(), data_dir)
    bad = HParams(**{**hp.values(), "task_modality": [
        hp.task_modality[0], {"inputs": "symbol", "targets": "real"}]})
    with pytest.raises(UserError, match="supports symbol and class_label targets.*'real'"):
        build_model("multimodel", _hparams(), bad)


# -- training both tasks together ------------------------------------------------------------
def test_several_heads_refuse_mixed_task_batches(generated, tmp_path):
    problem, data_dir = generated
    with pytest.raises(UserError, match="target heads .* multiproblem_mixing=example"):
        Trainer(problem, "multimodel", _hparams(multiproblem_mixing="example"), data_dir,
                str(tmp_path), train_steps=1)


@pytest.mark.slow
def test_trains_a_text_task_and_a_classifier_together(generated, tmp_path):
    problem, data_dir = generated
    hp = _hparams()
    trainer = Trainer(problem, "multimodel", hp, data_dir, str(tmp_path), train_steps=100,
                      eval_steps=0, local_eval_frequency=10_000, random_seed=1,
                      log_every_seconds=1e9)
    # multiproblem_mixing=auto: one task per batch for a model with a head per task
    assert trainer.tasks.mixing == trainer.input_config.multiproblem_mixing == "batch"

    def dev(task):
        return problem.dataset(ModeKeys.EVAL, data_dir, trainer.input_config, task=task,
                               shuffle=False, repeat=False)

    eval_fn = trainer.eval_step(dev(TEXT))   # every dimension free: one trace for both tasks

    def per_task():
        return [trainer.evaluate(eval_fn, dev(i)) for i in (TEXT, CLASS)]

    before = per_task()   # every weight exists from the model's construction
    trainer.train()
    after = per_task()
    assert eval_fn.experimental_get_tracing_count() == 1
    assert after[TEXT]["loss"] < 0.5 * before[TEXT]["loss"]
    assert after[TEXT]["accuracy"] > before[TEXT]["accuracy"] + 0.15
    labels = [int(ex["targets"][0]) for ex in problem.dataset(
        ModeKeys.EVAL, data_dir, trainer.input_config, batched=False,
        task=CLASS).as_numpy_iterator()]
    chance = max(np.mean(labels), 1 - np.mean(labels))     # always the commoner class
    assert after[CLASS]["loss"] < 0.5 * before[CLASS]["loss"]
    assert after[CLASS]["accuracy"] > max(chance + 0.2, 0.85)

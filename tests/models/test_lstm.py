"""t2tlike/models/lstm.py: LSTM seq2seq models, their attention layer and hparams sets."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import t2tlike.models  # noqa: F401  (registers the models and hparams sets)
from data_generators.problem import default_problem_hparams
from t2tlike import registry, tracing
from t2tlike.errors import UserError
from t2tlike.hparams import create_hparams
from t2tlike.models.lstm import LSTMStack, Seq2seqAttention
from t2tlike.training import learning_rate, optimizers

VOCAB = 12
# (model, hparams set) pairs covering both models and both attention mechanisms.
CONFIGS = [("lstm_seq2seq", "lstm_seq2seq"),
           ("lstm_seq2seq_attention", "lstm_bahdanau_attention"),
           ("lstm_seq2seq_attention", "lstm_luong_attention")]
# Fixed sequences to reverse (ids >= 2; 0 = pad, 1 = EOS).
SEQUENCES = [[3, 4, 5, 6], [7, 2, 9], [10, 11, 3, 8, 5], [6, 6, 2]]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def problem_hparams(has_inputs=True):
    php = default_problem_hparams()
    php.modality = {"inputs": "symbol", "targets": "symbol"}
    php.vocab_size = {"inputs": VOCAB, "targets": VOCAB}
    php.has_inputs = has_inputs
    return php


def build(model_name, hparams_set, **overrides):
    hp = create_hparams(hparams_set)
    if "attention_layer_size" in hp and "hidden_size" in overrides:
        overrides.setdefault("attention_layer_size", overrides["hidden_size"])
    hp = hp.replace(**overrides)
    return registry.models.get(model_name)(hp, problem_hparams())


def reverse_batch():
    """{"inputs", "targets"} [4, 6] ids: each sequence + EOS, and it reversed + EOS."""
    length = max(len(s) for s in SEQUENCES) + 1
    inputs = np.zeros((len(SEQUENCES), length), np.int32)
    targets = np.zeros_like(inputs)
    for i, s in enumerate(SEQUENCES):
        inputs[i, :len(s) + 1] = s + [1]
        targets[i, :len(s) + 1] = s[::-1] + [1]
    return {"inputs": tf.constant(inputs), "targets": tf.constant(targets)}


def test_hparams_sets_and_models_are_registered():
    for name in ("lstm_seq2seq", "lstm_seq2seq_attention"):
        assert name in registry.models
    base = create_hparams("lstm_seq2seq")
    assert (base.hidden_size, base.num_hidden_layers, base.batch_size) == (128, 2, 1024)
    for name in ("lstm_attention_base", "lstm_bahdanau_attention", "lstm_luong_attention",
                 "lstm_attention"):
        hp = create_hparams(name)
        assert hp.attention_layer_size == hp.hidden_size
        assert hp.output_attention is True and hp.num_heads == 1
    assert create_hparams("lstm_bahdanau_attention").attention_mechanism == "bahdanau"
    assert create_hparams("lstm_luong_attention").attention_mechanism == "luong"
    assert create_hparams("lstm_attention") == create_hparams("lstm_bahdanau_attention")
    hp = create_hparams("lstm_attention", "attention_mechanism=luong,hidden_size=64")
    assert hp.to_json() and hp.attention_mechanism == "luong"


def test_lstm_attention_reverse_is_the_measured_quickstart_setting():
    """docs/benchmarks.md measures exactly these overrides of lstm_luong_attention (100% at
    1,000 steps, the quickstart's default); the registered set must not drift from them."""
    overrides = ("dropout=0.0,learning_rate_constant=0.003,"
                 "learning_rate_schedule=constant*linear_warmup*cosdecay")
    assert create_hparams("lstm_attention_reverse") == \
        create_hparams("lstm_luong_attention", overrides)


@pytest.mark.parametrize("model_name,hparams_set", CONFIGS)
def test_body_and_call_shapes(model_name, hparams_set):
    model = build(model_name, hparams_set, hidden_size=32)
    features = {"inputs": tf.constant([[3, 4, 1, 0, 0], [5, 6, 7, 8, 1]]),
                "targets": tf.constant([[4, 3, 1], [8, 7, 6]])}
    body = model.body(model.bottom(features), training=False)
    assert body.shape == (2, 3, 32)
    assert model(features).shape == (2, 3, VOCAB)
    assert model(features, training=True).shape == (2, 3, VOCAB)


@pytest.mark.parametrize("model_name,hparams_set", CONFIGS)
def test_padding_in_inputs_does_not_change_outputs(model_name, hparams_set):
    model = build(model_name, hparams_set, hidden_size=32)
    inputs = tf.constant([[3, 4, 5, 1], [6, 1, 0, 0]])
    targets = tf.constant([[5, 4, 3, 1], [6, 1, 0, 0]])
    logits = model({"inputs": inputs, "targets": targets}).numpy()
    padded = tf.pad(inputs, [[0, 0], [0, 3]])
    padded_logits = model({"inputs": padded, "targets": targets}).numpy()
    np.testing.assert_allclose(padded_logits, logits, atol=1e-5)
    # The short example alone (no padding at all) matches its padded copy in the batch.
    alone = model({"inputs": inputs[1:, :2], "targets": targets[1:]}).numpy()
    np.testing.assert_allclose(alone[0], logits[1], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("model_name,hparams_set", CONFIGS[1:2])
def test_learns_to_reverse_fixed_sequences(model_name, hparams_set):
    """(the attention model; plain lstm_seq2seq shares its LSTM stacks and search), with
    one layer of the set's two: it learns as well and traces faster (the other tests run
    two-layer stacks)."""
    hp = create_hparams(hparams_set, "num_hidden_layers=1")
    model = registry.models.get(model_name)(hp, problem_hparams())
    optimizer = optimizers.create_optimizer(optimizers.OptimizerConfig.from_hparams(hp),
                                          learning_rate.learning_rate_schedule(hp))
    assert isinstance(optimizer, keras.optimizers.Adam)
    features = reverse_batch()

    @tracing.Function        # as the trainer traces its steps (and the decoder `infer`)
    def train_step(features):
        with tf.GradientTape() as tape:
            num, den = model.training_loss(model(features, training=True), features)
            loss = num / den
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    # (both models reach 1-2% of the first loss by then, and decode exactly from ~60 steps;
    # one layer: under 1%)
    losses = [float(train_step(features)) for _ in range(120)]
    assert losses[-1] < 0.05 * losses[0], losses[::20]

    inputs = {"inputs": features["inputs"]}
    width = features["targets"].shape[1]
    for beam_size in (1, 3):
        decode = tracing.Function(lambda f, k=beam_size: model.infer(f, beam_size=k,
                                                                     extra_length=2))
        outputs = decode(inputs)["outputs"].numpy()
        assert outputs.shape == (len(SEQUENCES), width + 2)
        np.testing.assert_array_equal(outputs[:, :width], features["targets"].numpy())
        assert not outputs[:, width:].any()


def test_beam_search_returns_every_beam():
    model = build("lstm_seq2seq_attention", "lstm_luong_attention", hidden_size=16)
    inputs = {"inputs": tf.constant([[3, 4, 1], [5, 1, 0]])}
    out = tracing.Function(lambda f: model.infer(f, beam_size=3, extra_length=2,
                                                 return_beams=True))(inputs)
    assert out["outputs"].shape == (2, 3, 5) and out["scores"].shape == (2, 3)


@pytest.mark.parametrize("model_name,hparams_set", CONFIGS[:2])
def test_checkpoint_round_trip_restores_every_weight(model_name, hparams_set, tmp_path):
    # The trainer and decoder use tf.train.Checkpoint, which misses layers kept in lists.
    features = {"inputs": tf.constant([[3, 4, 1]]), "targets": tf.constant([[4, 3, 1]])}
    model = build(model_name, hparams_set, hidden_size=16)
    logits = model(features).numpy()
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(1)
    fresh = build(model_name, hparams_set, hidden_size=16)
    fresh(features)
    tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
    saved = [k for k in tf.train.load_checkpoint(path).get_variable_to_shape_map()
             if k.startswith("model/")]
    assert len(saved) == len(model.trainable_variables)
    np.testing.assert_allclose(fresh(features).numpy(), logits, atol=1e-6)


def test_models_need_inputs():
    hp = create_hparams("lstm_seq2seq")
    for name in ("lstm_seq2seq", "lstm_seq2seq_attention"):
        with pytest.raises(ValueError, match="needs a problem with inputs"):
            registry.models.get(name)(hp, problem_hparams(has_inputs=False))


def test_attention_model_rejects_hparams_without_attention_keys():
    with pytest.raises(UserError, match="hparams_set=lstm_attention"):
        build("lstm_seq2seq_attention", "lstm_seq2seq")
    with pytest.raises(UserError, match="attention_layer_size=32"):
        build("lstm_seq2seq_attention", "lstm_attention", hidden_size=32,
              attention_layer_size=64)


def test_dropout_only_when_training():
    model = build("lstm_seq2seq", "lstm_seq2seq", hidden_size=16, dropout=0.5)
    features = {"inputs": tf.constant([[3, 4, 1]]), "targets": tf.constant([[4, 3, 1]])}
    np.testing.assert_array_equal(model(features).numpy(), model(features).numpy())
    assert not np.allclose(model(features, training=True).numpy(),
                           model(features, training=True).numpy())


def test_lstm_stack_final_state_ignores_padding_and_config_round_trips():
    stack = LSTMStack(num_layers=2, hidden_size=8)
    x = tf.random.normal([2, 5, 4], seed=1)
    mask = tf.constant([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], tf.float32)
    outputs, states = stack(x, padding_mask=mask)
    assert outputs.shape == (2, 5, 8) and len(states) == 2
    _, short_states = stack(x[:1, :3])
    for (h, c), (h_short, c_short) in zip(states, short_states):
        np.testing.assert_allclose(h[:1].numpy(), h_short.numpy(), atol=1e-6)
        np.testing.assert_allclose(c[:1].numpy(), c_short.numpy(), atol=1e-6)
    started, _ = stack(x, initial_state=states)
    assert not np.allclose(started.numpy(), outputs.numpy())
    clone = LSTMStack.from_config(stack.get_config())
    assert (clone.num_layers, clone.hidden_size, clone.dropout) == (2, 8, 0.0)


@pytest.mark.parametrize("mechanism", ["bahdanau", "luong"])
@pytest.mark.parametrize("num_heads,output_attention", [(1, True), (2, True), (1, False)])
def test_attention_layer_masks_memory(mechanism, num_heads, output_attention):
    layer = Seq2seqAttention(num_units=6, mechanism=mechanism, num_heads=num_heads,
                             output_size=8, output_attention=output_attention)
    query = tf.random.normal([2, 3, 8], seed=1)
    memory = np.random.default_rng(0).normal(size=(2, 4, 8)).astype(np.float32)
    mask = tf.constant([[1, 1, 0, 0], [1, 1, 1, 1]])
    out = layer(query, tf.constant(memory), memory_mask=mask).numpy()
    assert out.shape == (2, 3, 8)
    memory[0, 2:] = 50.0
    out2 = layer(query, tf.constant(memory), memory_mask=mask).numpy()
    np.testing.assert_allclose(out2, out, atol=1e-5)
    memory[0, :2] = 5.0                          # attended positions do matter
    out3 = layer(query, tf.constant(memory), memory_mask=mask).numpy()
    assert not np.allclose(out3[0], out[0], atol=1e-3)
    config = layer.get_config()
    assert Seq2seqAttention.from_config(config).get_config() == config


def test_attention_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown attention mechanism"):
        Seq2seqAttention(num_units=4, mechanism="dot")
    with pytest.raises(ValueError, match="output_attention=True needs output_size"):
        Seq2seqAttention(num_units=4)
    with pytest.raises(ValueError, match="output_attention=False"):
        Seq2seqAttention(num_units=4, num_heads=2, output_attention=False)(
            tf.zeros([1, 2, 4]), tf.zeros([1, 3, 4]))

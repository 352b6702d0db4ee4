"""t2tlike.training.benchmark: FLOP counting, and the figures of a short real run."""
import tensorflow as tf

import helpers
from t2tlike.training import benchmark
from t2tlike.training.trainer import Trainer, build_model


def test_matmul_flops_are_counted_from_the_graph_shapes():
    def step(batch):
        x = tf.cast(batch["inputs"], tf.float32)                         # [4, 6]
        w = tf.ones([6, 5])
        y = tf.matmul(x, w)                                              # 2*4*5*6
        z = tf.matmul(y[tf.newaxis], y[tf.newaxis], transpose_b=True)    # 2*1*4*4*5
        return tf.reduce_sum(z)

    batch = {"inputs": tf.zeros([4, 6], tf.int32)}
    assert benchmark.step_matmul_flops(step, batch) == 2 * 4 * 5 * 6 + 2 * 4 * 4 * 5


def test_pad_removed_matmuls_are_counted_as_computing_every_position():
    batch = {"inputs": tf.constant([[2, 3, 1, 0], [3, 1, 0, 0]], tf.int64),
             "targets": tf.constant([[3, 1, 0, 0], [2, 2, 3, 1]], tf.int64)}
    counts = {}
    for remover in (False, True):
        hp = helpers.tiny_transformer_hparams(hidden_size=16, filter_size=32,
                                              use_pad_remover=remover)
        model = build_model("transformer", hp, helpers.tiny_problem().get_hparams(hp))
        model(batch)

        def step(features, model=model):   # forward and backward, as a train step's
            with tf.GradientTape() as tape:
                num, _ = model.training_loss(model(features, training=True), features)
            return tape.gradient(num, model.trainable_variables)

        with benchmark.every_position(model):
            counts[remover] = benchmark.step_matmul_flops(step, batch)
        assert model.encoder.pad_remover == model.decoder.pad_remover == remover
    # without every_position the pad-removed matmuls' rows are unknown and count 0
    assert counts[True] == counts[False] > 0


def test_training_figures_of_a_short_run(tiny_data, tmp_path):
    problem, data_dir = tiny_data
    hp = helpers.tiny_transformer_hparams(hidden_size=16, filter_size=32)
    trainer = Trainer(problem, "transformer", hp, data_dir, str(tmp_path), train_steps=1,
                      eval_steps=0, random_seed=1)
    train = benchmark.benchmark_training(trainer, seconds=0.5, warmup_steps=1, log_every=0.1)
    assert train["train_steps"] >= 1
    assert train["train_target_tokens_per_sec"] > 0 and train["step_seconds"] > 0
    assert 0.0 <= train["padding_fraction"] < 1.0
    assert 0.0 <= train["input_wait_fraction"] < 1.0
    # A Transformer step does at least 6 FLOPs per weight of the output layer per token.
    assert train["matmul_flops_per_target_token"] > 6 * 16 * problem.get_hparams(
        hp, data_dir).vocab_size["targets"]
    assert train["gflops_per_sec"] > 0 and train["train_peak_rss_mb"] > 0
    # Decoding figures: tests/bin/test_benchmark_cli.py.

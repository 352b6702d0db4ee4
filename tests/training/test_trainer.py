"""The training loop on a tiny copy task: it learns, checkpoints, scores its dev decodes
with sacreBLEU (one run of 200 steps, shared by the module), resumes under a time budget;
gradient accumulation; the progress line. Faults and the two-replica run:
test_trainer_faults.py."""
import os
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import helpers
import t2tlike.models  # noqa: F401
from t2tlike.training import run_control
from t2tlike.training.trainer import Trainer


_hparams = helpers.tiny_transformer_hparams
EVAL_METRICS = ("accuracy", "accuracy_per_sequence", "neg_log_perplexity", "loss")


def _assert_evaluated(results):
    """Every eval metric is there and a finite value in its range."""
    assert set(EVAL_METRICS) <= set(results), results
    assert all(np.isfinite(results[m]) for m in EVAL_METRICS), results
    assert 0.0 <= results["accuracy"] <= 1.0 and 0.0 <= results["accuracy_per_sequence"] <= 1.0
    assert results["neg_log_perplexity"] <= 0.0 < results["loss"], results


class TinyCopyWithBleu(helpers.TinyCopy):
    """TinyCopy (its files) whose eval also decodes a dev slice and scores it with sacreBLEU."""

    def dataset_filename(self):
        return helpers.TinyCopy().dataset_filename()

    def eval_metrics(self):
        return super().eval_metrics() + ["bleu"]


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """(trainer, its eval results, output_dir) after 200 steps on TinyCopyWithBleu with one
    eval (BLEU of 40 dev decodes included) and one checkpoint, at the end."""
    _, data_dir = tiny_data
    out = str(tmp_path_factory.mktemp("trained"))
    trainer = Trainer(TinyCopyWithBleu(), "transformer", _hparams(eval_bleu_samples=40),
                      data_dir, out, train_steps=200, eval_steps=5, local_eval_frequency=200,
                      random_seed=3)
    return trainer, trainer.train(), out


@pytest.mark.slow
def test_trainer_learns_checkpoints_and_resumes_under_a_time_budget(trained, tiny_data):
    _, results, out = trained
    _assert_evaluated(results)
    assert results["accuracy"] > 0.9, results
    assert results["neg_log_perplexity"] > -0.5, results
    assert tf.train.latest_checkpoint(out).endswith("model-200")

    # Resumed as plain TinyCopy (the same files and hparams, but no BLEU asked for), with a
    # budget already spent after its first step: it stops there, saves and evaluates.
    problem, data_dir = tiny_data
    resumed = Trainer(problem, "transformer", _hparams(eval_bleu_samples=40), data_dir, out,
                      train_steps=1000, eval_steps=2, local_eval_frequency=500, random_seed=3,
                      max_train_seconds=1e-6)
    results = resumed.train()
    assert int(resumed.step.numpy()) == 201
    assert tf.train.latest_checkpoint(out).endswith("model-201")
    _assert_evaluated(results)
    # the resumed run started from the trained weights, not from scratch
    assert results["accuracy"] > 0.9, results
    assert "bleu" not in results, results


@pytest.mark.slow
def test_eval_reports_real_sacrebleu_of_greedy_dev_decodes(trained):
    from t2tlike import metrics
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.decoding.ids import cut_at_eos
    trainer, results, _ = trained
    problem, data_dir = trainer.problem, trainer.data_dir
    # The same figure, computed independently: greedy-decode the first 40 dev examples
    # one by one and score them against their targets with sacreBLEU.
    encoder = problem.feature_encoders(data_dir)["targets"]
    dev = list(problem.dataset("eval", data_dir, trainer.input_config, batched=False,
                               shuffle=False, repeat=False).take(40).as_numpy_iterator())
    assert len(dev) == 40
    decoder = decoder_lib.Decoder(trainer.model, encoder, encoder,
                                  decoder_lib.decode_hparams("beam_size=1,batch_size=1"))
    hyps = [decoder.decode_encoded([cut_at_eos(ex["inputs"]) + [1]], log=False)[0]
            for ex in dev]
    refs = [encoder.decode(cut_at_eos(ex["targets"])) for ex in dev]
    assert results["bleu"] == pytest.approx(metrics.corpus_bleu(hyps, refs).score, abs=1e-6)
    # copying 1-6 symbols is learnt in 200 steps: the decodes mostly match
    assert results["bleu"] > 50.0, (results, hyps[:5], refs[:5])


def test_gradient_accumulation_counts_batches_as_steps_and_updates_as_lr_steps(tiny_data,
                                                                               tmp_path):
    """(with SGD with momentum: every optimizer accumulates, and not only Adam runs in the
    loop; one update of each optimizer: tests/training/test_optimizers.py)"""
    problem, data_dir = tiny_data
    hp = _hparams(optimizer="momentum", optimizer_multistep_accumulate_steps=3)
    trainer = Trainer(problem, "transformer", hp, data_dir, str(tmp_path), train_steps=7,
                      eval_steps=1, random_seed=1)
    assert isinstance(trainer.optimizer, keras.optimizers.SGD)
    _assert_evaluated(trainer.train())
    assert int(trainer.step.numpy()) == 7
    assert int(trainer.optimizer.iterations.numpy()) == 2      # 7 batches = 2 full updates
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model-7")


def test_progress_eta_respects_time_budget(monkeypatch):
    """With --max_train_seconds the ETA is the budget left, not train_steps' (hours)."""
    logged = []
    monkeypatch.setattr(run_control.logging, "info", lambda fmt, *a: logged.append(fmt % a))
    progress = run_control.Progress(0, 1_000_000, every_seconds=0.0,
                                     deadline=time.time() + 90.0)
    progress.update(1, 100.0)
    progress.update(2, 100.0)
    progress.t0 -= 10.0                 # one step in 10 s: 116 days by step count
    progress.report(2, 1.0, 1e-3)
    assert logged and ("ETA 1m29s" in logged[-1] or "ETA 1m30s" in logged[-1]), logged


def test_progress_line_shows_memory_and_skipped_steps(monkeypatch):
    if os.path.exists("/proc/self/statm"):
        assert 50 < run_control.rss_mb() < 100_000       # this process, TensorFlow loaded
    logged = []
    monkeypatch.setattr(run_control.logging, "info", lambda fmt, *a: logged.append(fmt % a))
    monkeypatch.setattr(run_control, "rss_mb", lambda: 1536.0)
    progress = run_control.Progress(0, 10, every_seconds=0.0)
    progress.update(1, 100.0)
    progress.report(1, 1.0, 1e-3)
    assert logged[-1].endswith("rss 1,536 MB"), logged
    progress.report(1, 1.0, 1e-3, skipped=3)
    assert logged[-1].endswith("rss 1,536 MB  skipped (non-finite) 3"), logged


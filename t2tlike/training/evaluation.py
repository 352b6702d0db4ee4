"""Evaluation during training: the dev split's metrics (a multi-problem's task by task) and
the dev BLEU of greedy decodes, logged and written as TensorBoard summaries.

On several workers each worker evaluates its own share of the dev files (or, with fewer
files than workers, of the examples; `eval_steps` is divided among the workers) and the
totals are summed across the workers in one all-reduce, so every worker gets the same
results; the chief alone decodes the BLEU samples and shares the score the same way. An
evaluation that fails on one worker fails on all of them, and training goes on.
"""
import time

from absl import logging

from t2tlike import metrics as metrics_lib

EVAL = "eval"


class EvaluationFailed(RuntimeError):
    """An evaluation failed on another worker."""


class Evaluation:
    """The evaluations of `trainer` (a Trainer: its model, problem, tasks, eval writer)."""

    def __init__(self, trainer, collectives=None):
        self.trainer, self.collectives = trainer, collectives
        self.worker = trainer.worker
        hparams, problem = trainer.hparams, trainer.problem
        self.metric_names = [m for m in problem.eval_metrics() if m in metrics_lib.METRICS]
        wanted = [m for m in problem.eval_metrics() if m in metrics_lib.DECODE_METRICS]
        self.bleu_samples = (hparams.eval_bleu_samples
                             if wanted and trainer.problem_hparams.has_inputs else 0)
        self._bleu_state = {}   # task (None: the problem) -> (decoder, inputs, references)

    def run(self, eval_fn, dataset=None):
        """Up to `eval_steps` batches of `dataset` (default: the dev split; a multi-problem's
        task by task) -> {metric: value}, for a multi-problem {"TASK/metric": value}."""
        t = self.trainer
        step = int(t.step.numpy())
        if dataset is not None:
            results = self._one(eval_fn, dataset, self.bleu_samples > 0)
            self._log(results, step)
            return results
        per_task, results = {}, {}
        for name, task, wanted in t.tasks.eval_plan():
            with_bleu = self.bleu_samples > 0 and (wanted is None or metrics_lib.BLEU in wanted)
            extra = {} if task is None else {"task": task}
            if self.worker.count > 1:
                split = t.problem.dataset(EVAL, t.data_dir, t.input_config, seed=t.seed,
                                          repeat=False, shuffle=False,
                                          shard=(self.worker.index, self.worker.count), **extra)
            else:
                split = t._dataset(EVAL, repeat=False, shuffle=False, **extra)
            per_task[name] = self._one(eval_fn, split, with_bleu, task=task,
                                       metric_names=wanted)
            results.update(per_task[name] if name is None else
                           {f"{name}/{k}": v for k, v in per_task[name].items()})
        self._log(results, step)
        import tensorflow as tf
        with t.eval_writer.as_default():
            for name, value in t.tasks.after_eval(per_task, step).items():
                tf.summary.scalar(name, value, step=step)
        return results

    def _one(self, eval_fn, dataset, with_bleu, task=None, metric_names=None):
        steps = self.trainer.eval_steps
        if steps and self.worker.count > 1:
            steps = -(-steps // self.worker.count)
        names = sorted(self.metric_names + ["loss"])
        totals, bleu, error = {}, (0.0, 0.0), None
        try:
            for i, batch in enumerate(dataset):
                if steps and i >= steps:
                    break
                for name, (num, den) in eval_fn(batch).items():
                    n, d = totals.get(name, (0.0, 0.0))
                    totals[name] = (n + float(num), d + float(den))
            if with_bleu and self.worker.is_chief:
                bleu = (self.bleu(task), 1.0)
        except Exception as e:   # noqa: BLE001 - re-raised below, after the workers agree
            if self.worker.count == 1:
                raise
            error = e
        if self.worker.count > 1:   # every worker's totals; the chief's BLEU
            local = [float(error is not None), *bleu]
            for name in names:
                local += totals.get(name, (0.0, 0.0))
            summed = self.collectives.sum(local)
            if error is not None:
                raise error
            if summed[0]:
                raise EvaluationFailed(f"the evaluation failed on {summed[0]:.0f} other "
                                       "worker(s); see their logs")
            bleu = summed[1:3]
            totals = {name: (summed[3 + 2 * i], summed[4 + 2 * i])
                      for i, name in enumerate(names)}
        results = metrics_lib.finalize(totals)
        if metric_names is not None:
            results = {k: v for k, v in results.items() if k in metric_names or k == "loss"}
        if with_bleu:
            results[metrics_lib.BLEU] = bleu[0] / max(bleu[1], 1.0)
        return results

    def _log(self, results, step):
        import tensorflow as tf
        with self.trainer.eval_writer.as_default():
            for name, value in results.items():
                tf.summary.scalar(f"metrics/{name}", value, step=step)
        logging.info("eval at step %d: %s", step,
                     ", ".join(f"{k} = {v:.4f}" for k, v in sorted(results.items())))

    def bleu(self, task=None):
        """Greedy-decodes the first `eval_bleu_samples` dev examples (of task `task` of a
        multi-problem) and returns their sacreBLEU against the dev targets (decoded back to
        text with the problem's, or the task's, targets encoder)."""
        from t2tlike.decoding import decoder as decoder_lib
        from t2tlike.decoding import tasks
        t = self.trainer
        if task not in self._bleu_state:
            encoders = tasks.feature_encoders(t.problem, t.data_dir, task)
            extra = {} if task is None else {"task": task}
            dev = t.problem.dataset(EVAL, t.data_dir, t.input_config, batched=False,
                                    shuffle=False, repeat=False, **extra
                                    ).take(self.bleu_samples)
            hp = decoder_lib.decode_hparams("beam_size=1,batch_size=64,extra_length=50")
            decoder = decoder_lib.Decoder(t.model, encoders["inputs"], encoders["targets"], hp,
                                          class_label=tasks.is_class_label(t.model, task))
            inputs, references = decoder.encode_examples(dev.as_numpy_iterator())
            self._bleu_state[task] = (decoder, inputs, references)
        decoder, inputs, references = self._bleu_state[task]
        start = time.time()
        hypotheses = decoder.decode_encoded(inputs, log=False)
        bleu = metrics_lib.corpus_bleu(hypotheses, references)
        logging.info("dev BLEU %.2f on %d sentences (greedy, %.1f s); e.g. %r -> %r",
                     bleu.score, len(inputs), time.time() - start,
                     references[0] if references else "", hypotheses[0] if hypotheses else "")
        return bleu.score

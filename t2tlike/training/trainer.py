"""The training loop: one generic trainer for every problem, model and optimizer.

Runs under a tf.distribute.Strategy (the default one on a single device, all local GPUs
when there are several), checkpoints with a CheckpointManager (re-running the same command
resumes), evaluates every `local_eval_frequency` steps with the problem's metrics, writes
TensorBoard summaries (loss, learning rate, metrics, throughput) and logs a progress line
with steps/s, target tokens/s and the ETA.

A MultiProblem trains on its tasks' mixture under the `multiproblem_*` schedule and is
evaluated task by task (metrics named "TASK/metric"); see t2tlike/training/multitask.py.
"""
import os
import time

import gin
import keras
import tensorflow as tf
from absl import logging

from t2tlike import registry
from t2tlike.training import learning_rate as lr_lib
from t2tlike.training import metrics as metrics_lib
from t2tlike.training import multitask as multitask_lib
from t2tlike.training import optimizers, precision, run_config

TRAIN, EVAL = "train", "eval"


def default_strategy():
    """MirroredStrategy over all local GPUs when there are several, else the default one."""
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if len(gpus) == 1:
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    return tf.distribute.get_strategy()


def _feature_spec(dataset):
    return tf.nest.map_structure(
        lambda s: tf.TensorSpec([None] * s.shape.rank, s.dtype), dataset.element_spec)


def build_model(model_name, hparams, problem_hparams):
    """An instance of the registered model (variables are created on its first call), in
    the precision of hparams.mixed_precision (t2tlike/training/precision.py)."""
    mode = precision.resolve(hparams)
    with precision.policy_scope(mode):
        model = registry.model(model_name)(hparams, problem_hparams, name=model_name)
    model.precision = mode
    return model


class Trainer:
    """Trains `model_name` on `problem` with `hparams`; see the module docstring."""

    def __init__(self, problem, model_name, hparams, data_dir, output_dir, train_steps,
                 eval_steps=100, local_eval_frequency=1000, keep_checkpoint_max=20,
                 random_seed=None, strategy=None, log_every_seconds=10.0,
                 max_train_seconds=0.0):
        self.problem, self.model_name, self.hparams = problem, model_name, hparams
        self.data_dir, self.output_dir = data_dir, output_dir
        self.train_steps, self.eval_steps = train_steps, eval_steps
        self.local_eval_frequency = max(int(local_eval_frequency), 1)
        self.log_every_seconds = log_every_seconds
        self.max_train_seconds = float(max_train_seconds or 0.0)
        self.strategy = strategy or default_strategy()
        if random_seed is not None:
            keras.utils.set_random_seed(random_seed)
        self.seed = random_seed
        self.problem_hparams = problem.get_hparams(hparams, data_dir)
        with self.strategy.scope():
            self.model = build_model(model_name, hparams, self.problem_hparams)
            # The schedule counts weight updates (see optimizers.py on accumulation).
            updates = train_steps // max(optimizers.accumulate_steps(hparams), 1)
            self.schedule = lr_lib.learning_rate_schedule(hparams, updates)
            self.optimizer = precision.wrap_optimizer(
                optimizers.create_optimizer(hparams, self.schedule), self.model.precision)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        # float16 steps whose gradients overflowed (skipped by the loss scaling)
        self.skipped_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                         name="skipped_steps")
        self.multitask = multitask_lib.MultiTask.for_problem(problem, hparams, data_dir)
        if self.multitask is not None:
            self.multitask.check_model(self.model)
        extra = self.multitask.checkpoint_items() if self.multitask else {}
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                              step=self.step, skipped_steps=self.skipped_steps,
                                              **extra)
        self.manager = tf.train.CheckpointManager(self.checkpoint, output_dir,
                                                  max_to_keep=keep_checkpoint_max,
                                                  checkpoint_name="model")
        self._train_writer = tf.summary.create_file_writer(output_dir)
        self._eval_writer = tf.summary.create_file_writer(os.path.join(output_dir, "eval"))
        self.metric_names = [m for m in problem.eval_metrics() if m in metrics_lib.METRICS]
        wanted = [m for m in problem.eval_metrics() if m in metrics_lib.DECODE_METRICS]
        self.bleu_samples = (getattr(hparams, "eval_bleu_samples", 0)
                             if wanted and self.problem_hparams.has_inputs else 0)
        self._bleu_state = {}   # task (None: the problem) -> (decoder, inputs, references)

    # -- steps -------------------------------------------------------------------
    def _build(self, batch):
        """Creates the model's and optimizer's variables (before restoring a checkpoint)."""
        def create(features):
            self.model(features, training=False)
        self.strategy.run(tf.function(create), args=(batch,))
        with self.strategy.scope():
            self.optimizer.build(self.model.trainable_variables)

    def _train_step_fn(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        multitask, skipped = self.multitask, self.skipped_steps
        loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def replica_step(features):
            ctx = tf.distribute.get_replica_context()
            with tf.GradientTape() as tape:
                logits = model(features, training=True)
                num, den = model.training_loss(logits, features)
                total_den = ctx.all_reduce(tf.distribute.ReduceOp.SUM, den)
                loss = num / tf.maximum(total_den, 1.0)
                if multitask is not None:   # adaptive_implicit scales each task's loss
                    loss *= tf.cast(multitask.batch_loss_weight(features), loss.dtype)
                if model.losses:
                    loss += tf.add_n(model.losses) / strategy.num_replicas_in_sync
                if loss_scaling:
                    loss = optimizer.scale_loss(loss)
            variables = model.trainable_variables
            grads = tape.gradient(loss, variables)
            # the loss-scale optimizer skips the update when a gradient is not finite
            overflow = tf.cast(tf.logical_not(optimizer.check_finite(grads)), tf.float32) \
                if loss_scaling else tf.constant(0.0)
            optimizer.apply_gradients(zip(grads, variables))
            tokens = tf.reduce_sum(tf.cast(tf.not_equal(features["targets"], 0), tf.float32))
            return num, den, tokens, overflow

        def step(features):
            num, den, tokens, overflow = strategy.run(replica_step, args=(features,))
            reduce = lambda t: strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None)
            skipped.assign_add(tf.cast(reduce(overflow) > 0, tf.int64))
            return reduce(num) / tf.maximum(reduce(den), 1.0), reduce(tokens)

        return step

    def _eval_step_fn(self):
        model, strategy, names = self.model, self.strategy, self.metric_names

        def replica_step(features):
            logits = model(features, training=False)
            num, den = model.training_loss(logits, features)
            weights = model.target_modality.targets_weights(features["targets"])
            sums = metrics_lib.metric_sums(logits, features["targets"], weights, names)
            sums["loss"] = (num, den)
            return sums

        def step(features):
            sums = strategy.run(replica_step, args=(features,))
            return tf.nest.map_structure(
                lambda t: strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None), sums)

        return step

    # -- loop --------------------------------------------------------------------
    def evaluate(self, eval_fn=None, dataset=None):
        """Runs `eval_steps` eval batches; returns {metric: value} and logs them. A
        multi-problem is evaluated task by task ({"TASK/metric": value}), and its schedule
        is updated with the tasks' scores."""
        eval_fn = eval_fn or tf.function(self._eval_step_fn(), reduce_retracing=True)
        step = int(self.step.numpy())
        if self.multitask is not None and dataset is None:
            return self._evaluate_tasks(eval_fn, step)
        results = self._evaluate_one(eval_fn, dataset or self._eval_dataset(),
                                     self.bleu_samples > 0)
        self._log_eval(results, step)
        return results

    def _evaluate_one(self, eval_fn, dataset, with_bleu, task=None, metric_names=None):
        totals = {}
        for i, batch in enumerate(dataset):
            if self.eval_steps and i >= self.eval_steps:
                break
            for name, (num, den) in eval_fn(batch).items():
                n, d = totals.get(name, (0.0, 0.0))
                totals[name] = (n + float(num), d + float(den))
        results = metrics_lib.finalize(totals)
        if metric_names is not None:
            results = {k: v for k, v in results.items() if k in metric_names or k == "loss"}
        if with_bleu:
            results[metrics_lib.BLEU] = self.evaluate_bleu(task)
        return results

    def _evaluate_tasks(self, eval_fn, step):
        per_task, results = {}, {}
        for i, name in enumerate(self.multitask.names):
            wanted = self.problem.task_eval_metrics(i)
            dataset = self._dataset(EVAL, repeat=False, shuffle=False, task=i)
            per_task[name] = self._evaluate_one(
                eval_fn, dataset, self.bleu_samples > 0 and metrics_lib.BLEU in wanted,
                task=i, metric_names=set(wanted))
            results.update({f"{name}/{k}": v for k, v in per_task[name].items()})
        self._log_eval(results, step)
        schedule = self.multitask.update(per_task, step)
        with self._eval_writer.as_default():
            for name, value in schedule.items():
                tf.summary.scalar(name, value, step=step)
        return results

    def _log_eval(self, results, step):
        with self._eval_writer.as_default():
            for name, value in results.items():
                tf.summary.scalar(f"metrics/{name}", value, step=step)
        logging.info("eval at step %d: %s", step,
                     ", ".join(f"{k} = {v:.4f}" for k, v in sorted(results.items())))

    def evaluate_bleu(self, task=None):
        """Greedy-decodes the first `eval_bleu_samples` dev examples (of task `task` of a
        multi-problem) and returns their sacreBLEU against the dev targets (decoded back to
        text with the problem's encoder).
        """
        from t2tlike.decoding import decoder as decoder_lib
        if task not in self._bleu_state:
            encoders = self.problem.feature_encoders(self.data_dir)
            extra = {} if task is None else {"task": task}
            dev = self.problem.dataset(EVAL, self.data_dir, self.hparams, batched=False,
                                       shuffle=False, repeat=False, **extra
                                       ).take(self.bleu_samples)
            inputs, references = [], []
            for example in dev.as_numpy_iterator():
                inputs.append(decoder_lib.cut(example["inputs"]) + [decoder_lib.EOS_ID])
                references.append(encoders["targets"].decode(decoder_lib.cut(example["targets"])))
            hp = decoder_lib.decode_hparams("beam_size=1,batch_size=64,extra_length=50")
            decoder = decoder_lib.Decoder(self.model, encoders["inputs"], encoders["targets"], hp)
            self._bleu_state[task] = (decoder, inputs, references)
        decoder, inputs, references = self._bleu_state[task]
        start = time.time()
        hypotheses = decoder.decode_encoded(inputs, log=False)
        bleu = metrics_lib.corpus_bleu(hypotheses, references)
        logging.info("dev BLEU %.2f on %d sentences (greedy, %.1f s); e.g. %r -> %r",
                     bleu.score, len(inputs), time.time() - start,
                     references[0] if references else "", hypotheses[0] if hypotheses else "")
        return bleu.score

    def _dataset(self, mode, **kwargs):
        ds = self.problem.dataset(mode, self.data_dir, self.hparams, seed=self.seed, **kwargs)
        return self.strategy.experimental_distribute_dataset(ds) \
            if self.strategy.num_replicas_in_sync > 1 else ds

    def _eval_dataset(self):
        return self._dataset(EVAL, repeat=False, shuffle=False)

    def train(self):
        """Trains up to `train_steps` (resuming from the latest checkpoint); returns the
        last eval results."""
        started = time.time()
        train_ds = self.problem.dataset(TRAIN, self.data_dir, self.hparams, seed=self.seed)
        spec = _feature_spec(train_ds)
        first = next(iter(train_ds))
        self._build(first)
        restored = self.manager.restore_or_initialize()
        start = int(self.step.numpy())
        if restored:
            logging.info("Resumed from %s at step %d.", restored, start)
        if start >= self.train_steps:
            logging.info("Already trained %d of %d steps; nothing to do.", start, self.train_steps)
            return {}
        if self.multitask is not None:
            self.multitask.start(start, bool(restored))
        self._write_operative_config()
        if self.strategy.num_replicas_in_sync > 1:
            train_ds = self.strategy.experimental_distribute_dataset(train_ds)
            train_fn = tf.function(self._train_step_fn())
        else:
            train_fn = tf.function(self._train_step_fn(), input_signature=[spec])
        eval_fn = tf.function(self._eval_step_fn(), reduce_retracing=True) \
            if self.strategy.num_replicas_in_sync > 1 else \
            tf.function(self._eval_step_fn(), input_signature=[spec])
        results = {}
        progress = _Progress(start, self.train_steps, self.log_every_seconds,
                             deadline=started + self.max_train_seconds
                             if self.max_train_seconds > 0 else None)
        iterator = iter(train_ds)
        while int(self.step.numpy()) < self.train_steps:
            loss, tokens = train_fn(next(iterator))
            step = int(self.step.assign_add(1).numpy())
            if self.multitask is not None:
                self.multitask.on_step(step)
            progress.update(step, float(tokens))
            if progress.due() or step == self.train_steps:
                lr = float(self.schedule(self.optimizer.iterations))
                skipped = int(self.skipped_steps.numpy())
                stats = progress.report(step, float(loss), lr, skipped)
                with self._train_writer.as_default():
                    tf.summary.scalar("loss", float(loss), step=step)
                    tf.summary.scalar("learning_rate", lr, step=step)
                    if self.model.precision == "float16":
                        tf.summary.scalar("train/skipped_steps", skipped, step=step)
                        tf.summary.scalar("train/loss_scale",
                                          float(self.optimizer.dynamic_scale.numpy()), step=step)
                    tf.summary.scalar("throughput/steps_per_sec", stats["steps_per_sec"], step=step)
                    tf.summary.scalar("throughput/target_tokens_per_sec",
                                      stats["tokens_per_sec"], step=step)
            out_of_time = (self.max_train_seconds > 0
                           and time.time() - started >= self.max_train_seconds)
            if out_of_time:
                logging.info("Stopping at step %d: the time budget of %.0f s is spent.",
                             step, self.max_train_seconds)
            if step % self.local_eval_frequency == 0 or step == self.train_steps or out_of_time:
                if self.eval_steps != 0:   # first, so the checkpoint holds what eval changed
                    results = self.evaluate(eval_fn)    # (a multi-task mixture)
                self.manager.save(checkpoint_number=step)
            if out_of_time:
                break
        self._train_writer.flush()
        self._eval_writer.flush()
        return results

    def _write_operative_config(self):
        run_config.atomic_write(os.path.join(self.output_dir, run_config.GIN_FILE),
                                gin.operative_config_str())


class _Progress:
    """Keeps the rates for the progress line."""

    def __init__(self, start_step, total_steps, every_seconds, deadline=None):
        self.total, self.every = total_steps, every_seconds
        self.deadline = deadline  # wall-clock end of a --max_train_seconds budget
        self.t0 = self.last = time.time()
        self.step0 = self.last_step = start_step
        self.tokens = 0.0
        self.started = False

    def update(self, step, tokens):
        if not self.started:  # the first step includes tracing; start the clock after it
            self.started = True
            self.t0 = self.last = time.time()
            self.step0 = self.last_step = step
            return
        self.tokens += tokens

    def due(self):
        return time.time() - self.last >= self.every

    def report(self, step, loss, lr, skipped=0):
        now = time.time()
        elapsed = max(now - self.t0, 1e-9)
        steps_per_sec = (step - self.step0) / elapsed
        tokens_per_sec = self.tokens / elapsed
        eta = (self.total - step) / steps_per_sec if steps_per_sec > 0 else float("nan")
        if self.deadline is not None:   # a time budget may end training first
            left = max(self.deadline - now, 0.0)
            eta = left if eta != eta else min(eta, left)
        rss = _rss_mb()
        logging.info("step %d/%d  loss %.4f  lr %.3g  %.2f steps/s  %.0f tokens/s  ETA %s%s%s",
                     step, self.total, loss, lr, steps_per_sec, tokens_per_sec, _fmt_eta(eta),
                     f"  rss {rss:,.0f} MB" if rss else "",
                     f"  skipped (overflow) {skipped}" if skipped else "")
        self.last = now
        return {"steps_per_sec": steps_per_sec, "tokens_per_sec": tokens_per_sec}


def _rss_mb():
    """The process's resident memory now (MB), from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        return None


def _fmt_eta(seconds):
    if seconds != seconds:  # nan
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s" if seconds >= 3600 \
        else f"{seconds // 60}m{seconds % 60:02d}s"

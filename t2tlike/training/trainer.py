"""The training loop: one generic trainer for every problem, model and optimizer.

Runs under a tf.distribute.Strategy (distribute.py chooses it: MirroredStrategy over all
local GPUs when there are several, the one GPU, else the default CPU strategy) and logs the
replicas and the batch of one update. Every `local_eval_frequency` steps,
at the last step and when the time budget is spent, it saves a checkpoint (see
run_checkpoints.py) and then evaluates with the problem's metrics; an eval that fails is
reported and training goes on. Checkpoints are also saved every `save_checkpoints_steps`
steps and `save_checkpoints_secs` seconds. SIGTERM or SIGINT (a scheduler's preemption,
Ctrl-C) stops it after the current step with a checkpoint of that step, raising
`errors.Stopped` (a second signal exits at once). Re-running the same command resumes,
on the input batches that come next. A step whose loss or gradients are not finite is
skipped and counted; `max_consecutive_skipped_steps` in a row stop the run. It writes
TensorBoard summaries (loss, learning rate, metrics, throughput) and logs a progress
line with steps/s, target tokens/s and the ETA.

A MultiProblem trains on its tasks' mixture under the `multiproblem_*` schedule and is
evaluated task by task (metrics named "TASK/metric"); see t2tlike/training/multitask.py.
"""
import dataclasses
import os
import time

import gin
import keras
import tensorflow as tf
from absl import logging

from t2tlike import metrics as metrics_lib
from t2tlike import precision, run_config
from t2tlike.errors import Stopped, first_line
from t2tlike.t2t_model import build_model
from t2tlike.training import learning_rate as lr_lib
from t2tlike.training import multitask as multitask_lib
from t2tlike.training import distribute, optimizers, run_checkpoints, run_control

TRAIN, EVAL = "train", "eval"


def feature_spec(dataset):
    """The dataset's element spec with every dimension free: one trace for all batches."""
    return tf.nest.map_structure(
        lambda s: tf.TensorSpec([None] * s.shape.rank, s.dtype), dataset.element_spec)


class Trainer:
    """Trains `model_name` on `problem` with `hparams`; see the module docstring."""

    def __init__(self, problem, model_name, hparams, data_dir, output_dir, train_steps,
                 eval_steps=100, local_eval_frequency=1000, keep_checkpoint_max=20,
                 random_seed=None, strategy=None, log_every_seconds=10.0,
                 max_train_seconds=0.0, save_checkpoints_steps=0, save_checkpoints_secs=600.0,
                 log_every_steps=0):
        self.problem, self.model_name, self.hparams = problem, model_name, hparams
        self.data_dir, self.output_dir = data_dir, output_dir
        self.train_steps, self.eval_steps = train_steps, eval_steps
        self.local_eval_frequency = max(int(local_eval_frequency), 1)
        # a checkpoint every this many steps (0: at each eval) and seconds (0: never by time)
        self.save_checkpoints_steps = int(save_checkpoints_steps) or self.local_eval_frequency
        self.save_checkpoints_secs = float(save_checkpoints_secs or 0.0)
        self.log_every_seconds = log_every_seconds
        self.log_every_steps = int(log_every_steps or 0)   # 0: by time only
        self.max_train_seconds = float(max_train_seconds or 0.0)
        self.strategy = strategy or distribute.local_strategy()
        if random_seed is not None:
            keras.utils.set_random_seed(random_seed)
        self.seed = random_seed
        self.problem_hparams = problem.get_hparams(hparams, data_dir)
        self.input_config = problem.input_config(hparams)
        config = optimizers.OptimizerConfig.from_hparams(hparams)
        self.optimizer_config = dataclasses.replace(config, accumulate_steps=(
            distribute.accumulate_steps(hparams.effective_batch_tokens, hparams.batch_size,
                                        self.strategy.num_replicas_in_sync,
                                        config.accumulate_steps)))
        with self.strategy.scope():
            self.model = build_model(model_name, hparams, self.problem_hparams)
            # The schedule counts weight updates (see optimizers.py on accumulation).
            updates = train_steps // self.optimizer_config.batches_per_update
            self.schedule = lr_lib.learning_rate_schedule(hparams, updates)
            self.optimizer = precision.wrap_optimizer(
                optimizers.create_optimizer(self.optimizer_config, self.schedule),
                self.model.precision)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        logging.info("Training %s on %s: %s; %s.", model_name, problem.name,
                     precision.describe(self.model.precision),
                     distribute.describe(self.strategy, hparams.batch_size,
                                         self.optimizer_config.batches_per_update))
        # steps skipped as not finite (NaN, Inf; a float16 overflow), in all and in a row
        self.skipped_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                         name="skipped_steps")
        self.consecutive_skipped = tf.Variable(0, dtype=tf.int64, trainable=False,
                                               name="consecutive_skipped")
        self.max_consecutive_skipped = int(hparams.max_consecutive_skipped_steps)
        # what a multi-problem adds to the loop (a task mixture, per-task eval); no-ops else
        self.tasks = multitask_lib.task_hooks(problem, hparams, data_dir)
        self.tasks.check_model(self.model)
        self.checkpoints = run_checkpoints.RunCheckpoints(
            output_dir, dict(model=self.model, optimizer=self.optimizer, step=self.step,
                             skipped_steps=self.skipped_steps, **self.tasks.checkpoint_items()),
            keep_checkpoint_max)
        self._train_writer = tf.summary.create_file_writer(output_dir)
        self._eval_writer = tf.summary.create_file_writer(os.path.join(output_dir, "eval"))
        self.metric_names = [m for m in problem.eval_metrics() if m in metrics_lib.METRICS]
        wanted = [m for m in problem.eval_metrics() if m in metrics_lib.DECODE_METRICS]
        self.bleu_samples = (hparams.eval_bleu_samples
                             if wanted and self.problem_hparams.has_inputs else 0)
        self._bleu_state = {}   # task (None: the problem) -> (decoder, inputs, references)

    # -- steps (public: the benchmarks build on them) ---------------------------
    def build(self, batch):
        """Creates the model's and optimizer's variables from one batch of features (before
        a checkpoint is restored)."""
        def create(features):
            self.model(features, training=False)
        self.strategy.run(tf.function(create), args=(batch,))
        with self.strategy.scope():
            self.optimizer.build(self.model.trainable_variables)

    def train_step_fn(self):
        """The train step as a Python function: features -> (mean loss over the batch's
        target tokens, number of target tokens). It applies one update (or accumulates one
        batch of it), or, when the loss or a gradient is not finite on any replica, skips
        it and counts it (`skipped_steps`, `consecutive_skipped`)."""
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        tasks, skipped, consecutive = self.tasks, self.skipped_steps, self.consecutive_skipped
        loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def replica_step(features):
            ctx = tf.distribute.get_replica_context()
            with tf.GradientTape() as tape:
                logits = model(features, training=True)
                num, den = model.training_loss(logits, features)
                total_den = ctx.all_reduce(tf.distribute.ReduceOp.SUM, den)
                loss = tasks.weight_loss(num / tf.maximum(total_den, 1.0), features)
                if model.losses:
                    loss += tf.add_n(model.losses) / strategy.num_replicas_in_sync
                if loss_scaling:
                    loss = optimizer.scale_loss(loss)
            variables = model.trainable_variables
            grads = tape.gradient(loss, variables)
            if loss_scaling:   # it skips the update itself when a gradient is not finite
                finite = optimizer.check_finite(grads)
                optimizer.apply_gradients(zip(grads, variables))
            else:
                finite = optimizers.all_finite([loss] + grads)
                optimizers.apply_if_finite(optimizer, grads, variables, finite)
            tokens = tf.reduce_sum(tf.cast(tf.not_equal(features["targets"], 0), tf.float32))
            return num, den, tokens, 1.0 - tf.cast(finite, tf.float32)

        def step(features):
            num, den, tokens, not_finite = strategy.run(replica_step, args=(features,))
            reduce = lambda t: strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None)
            was_skipped = reduce(not_finite) > 0
            skipped.assign_add(tf.cast(was_skipped, tf.int64))
            consecutive.assign(tf.where(was_skipped, consecutive + 1, 0))
            return reduce(num) / tf.maximum(reduce(den), 1.0), reduce(tokens)

        return step

    def eval_step_fn(self):
        """The eval step as a Python function: features -> {metric: (sum, weight)}, summed
        over replicas (metrics_lib.finalize turns the totals into values)."""
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

    def train_step(self, dataset=None, jit_compile=False):
        """`train_step_fn` as a tf.function. Given the (undistributed) dataset it will read,
        on one replica it is traced once for every batch shape."""
        return tf.function(self.train_step_fn(), input_signature=self._signature(dataset),
                           jit_compile=jit_compile or None)

    def eval_step(self, dataset=None):
        """`eval_step_fn` as a tf.function (see `train_step` for `dataset`)."""
        signature = self._signature(dataset)
        return tf.function(self.eval_step_fn(), input_signature=signature,
                           reduce_retracing=signature is None)

    def _signature(self, dataset):
        if dataset is None or self.strategy.num_replicas_in_sync > 1:
            return None
        return [feature_spec(dataset)]

    # -- loop --------------------------------------------------------------------
    def evaluate(self, eval_fn=None, dataset=None):
        """Runs up to `eval_steps` eval batches of `dataset` (default: the dev split; a
        multi-problem's task by task) and returns {metric: value}, or for a multi-problem
        {"TASK/metric": value}, logging them and writing TensorBoard summaries. The task
        hooks then see the tasks' results (an adaptive schedule updates its mixture)."""
        eval_fn = eval_fn or self.eval_step()
        step = int(self.step.numpy())
        if dataset is not None:
            results = self._evaluate_one(eval_fn, dataset, self.bleu_samples > 0)
            self._log_eval(results, step)
            return results
        per_task, results = {}, {}
        for name, task, wanted in self.tasks.eval_plan():
            with_bleu = self.bleu_samples > 0 and (wanted is None or metrics_lib.BLEU in wanted)
            split = self._dataset(EVAL, repeat=False, shuffle=False,
                                  **({} if task is None else {"task": task}))
            per_task[name] = self._evaluate_one(eval_fn, split, with_bleu, task=task,
                                                metric_names=wanted)
            results.update(per_task[name] if name is None else
                           {f"{name}/{k}": v for k, v in per_task[name].items()})
        self._log_eval(results, step)
        with self._eval_writer.as_default():
            for name, value in self.tasks.after_eval(per_task, step).items():
                tf.summary.scalar(name, value, step=step)
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

    def _log_eval(self, results, step):
        with self._eval_writer.as_default():
            for name, value in results.items():
                tf.summary.scalar(f"metrics/{name}", value, step=step)
        logging.info("eval at step %d: %s", step,
                     ", ".join(f"{k} = {v:.4f}" for k, v in sorted(results.items())))

    def evaluate_bleu(self, task=None):
        """Greedy-decodes the first `eval_bleu_samples` dev examples (of task `task` of a
        multi-problem) and returns their sacreBLEU against the dev targets (decoded back to
        text with the problem's, or the task's, targets encoder).
        """
        from t2tlike.decoding import decoder as decoder_lib
        from t2tlike.decoding import tasks
        if task not in self._bleu_state:
            encoders = tasks.feature_encoders(self.problem, self.data_dir, task)
            extra = {} if task is None else {"task": task}
            dev = self.problem.dataset(EVAL, self.data_dir, self.input_config, batched=False,
                                       shuffle=False, repeat=False, **extra
                                       ).take(self.bleu_samples)
            hp = decoder_lib.decode_hparams("beam_size=1,batch_size=64,extra_length=50")
            decoder = decoder_lib.Decoder(self.model, encoders["inputs"], encoders["targets"], hp,
                                          class_label=tasks.is_class_label(self.model, task))
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

    def _dataset(self, mode, **kwargs):
        ds = self.problem.dataset(mode, self.data_dir, self.input_config, seed=self.seed,
                                  **kwargs)
        return self.strategy.experimental_distribute_dataset(ds) \
            if self.strategy.num_replicas_in_sync > 1 else ds

    def train(self):
        """Trains up to `train_steps` (resuming from the latest checkpoint); returns the
        last eval results."""
        started = time.time()
        train_ds = self.problem.dataset(TRAIN, self.data_dir, self.input_config, seed=self.seed,
                                        **self.tasks.dataset_args())
        options = tf.data.Options()   # the iterator is saved; live reads (a task mixture)
        options.experimental_external_state_policy = \
            tf.data.experimental.ExternalStatePolicy.IGNORE   # stay live after a restore
        train_ds = train_ds.with_options(options)
        self.build(next(iter(train_ds)))
        restored = self.checkpoints.restore_latest()
        start = int(self.step.numpy())
        if restored:
            logging.info("Resumed from %s at step %d.", restored, start)
        if start >= self.train_steps:
            logging.info("Already trained %d of %d steps; nothing to do.", start, self.train_steps)
            return {}
        self.tasks.start(start, bool(restored))
        self._write_operative_config()
        train_fn, eval_fn = self.train_step(train_ds), self.eval_step(train_ds)
        if self.strategy.num_replicas_in_sync > 1:
            train_ds = self.strategy.experimental_distribute_dataset(train_ds)
        iterator = self.checkpoints.track_input(train_ds, restored)
        results = {}
        progress = run_control.Progress(start, self.train_steps, self.log_every_seconds,
                             deadline=started + self.max_train_seconds
                             if self.max_train_seconds > 0 else None,
                             every_steps=self.log_every_steps)
        last_save = time.time()
        with run_control.StopOnSignal() as stop:
            while int(self.step.numpy()) < self.train_steps:
                loss, tokens = train_fn(next(iterator))
                step = int(self.step.assign_add(1).numpy())
                self.tasks.on_step(step)
                progress.update(step, float(tokens))
                if progress.due(step) or step == self.train_steps:
                    self._log_progress(progress, step, loss)
                self._stop_if_diverged(step)
                out_of_time = (self.max_train_seconds > 0
                               and time.time() - started >= self.max_train_seconds)
                if out_of_time:
                    logging.info("Stopping at step %d: the time budget of %.0f s is spent.",
                                 step, self.max_train_seconds)
                last = step == self.train_steps or out_of_time or stop.signal is not None
                evaluate = self.eval_steps != 0 and (
                    step % self.local_eval_frequency == 0 or step == self.train_steps
                    or out_of_time)
                if (last or evaluate or step % self.save_checkpoints_steps == 0
                        or 0 < self.save_checkpoints_secs <= time.time() - last_save):
                    self.save(step)   # before the eval: an eval that fails loses nothing
                    last_save = time.time()
                if stop.signal is not None:
                    self._flush()
                    raise Stopped(f"stopped by {stop.name} at step {step}; the checkpoint of "
                                  f"step {step} is saved in {self.output_dir}. Run the same "
                                  "command again to resume.", 128 + stop.signal)
                if evaluate:
                    evaluated = self._evaluate_or_report(eval_fn, step)
                    if evaluated is not None:
                        results = evaluated
                        if self.tasks.eval_changes_state:  # the adapted mixture, kept too
                            self.save(step)
                if out_of_time:
                    break
        self._flush()
        return results

    def save(self, step):
        """Writes the checkpoint of `step` (see RunCheckpoints.save: never non-finite
        weights; a failed save stops the run, the saved checkpoints kept)."""
        try:
            return self.checkpoints.save(
                step, self.model.variables + self.optimizer.variables)
        except Stopped:
            self._flush()
            raise

    def _stop_if_diverged(self, step):
        """Stops the run after `max_consecutive_skipped_steps` non-finite steps in a row."""
        if 0 < self.max_consecutive_skipped <= int(self.consecutive_skipped.numpy()):
            self._flush()
            run_control.stop_diverged(int(self.consecutive_skipped.numpy()),
                                      self.max_consecutive_skipped, step,
                                      self.checkpoints.describe_newest())

    def _evaluate_or_report(self, eval_fn, step):
        """`evaluate`, or None with one error line when it fails: the checkpoint of this
        step is already saved and training goes on."""
        try:
            return self.evaluate(eval_fn)
        except Exception as e:   # noqa: BLE001 - reported, not hidden (tf OpErrors included)
            logging.error("Evaluation at step %d failed, training goes on (the checkpoint of "
                          "step %d is saved): %s: %s", step, step, type(e).__name__,
                          first_line(e))
            return None

    def _log_progress(self, progress, step, loss):
        lr = float(self.schedule(self.optimizer.iterations))
        skipped = int(self.skipped_steps.numpy())
        stats = progress.report(step, float(loss), lr, skipped)
        with self._train_writer.as_default():
            tf.summary.scalar("loss", float(loss), step=step)
            tf.summary.scalar("learning_rate", lr, step=step)
            tf.summary.scalar("train/skipped_steps", skipped, step=step)
            if self.model.precision == "float16":
                tf.summary.scalar("train/loss_scale",
                                  float(self.optimizer.dynamic_scale.numpy()), step=step)
            tf.summary.scalar("throughput/steps_per_sec", stats["steps_per_sec"], step=step)
            tf.summary.scalar("throughput/target_tokens_per_sec", stats["tokens_per_sec"],
                              step=step)

    def _flush(self):
        self._train_writer.flush()
        self._eval_writer.flush()

    def _write_operative_config(self):
        run_config.atomic_write(os.path.join(self.output_dir, run_config.GIN_FILE),
                                gin.operative_config_str())

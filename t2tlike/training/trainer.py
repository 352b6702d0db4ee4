"""The training loop: one generic trainer for every problem, model and optimizer.

Runs under a tf.distribute.Strategy (distribute.py chooses it: MultiWorkerMirroredStrategy
for a TF_CONFIG cluster, MirroredStrategy over all local GPUs when there are several, the
one GPU, else the default CPU strategy) and logs the replicas and the batch of one update.
On several workers only the chief writes output_dir, and the workers agree after every
step on saving and stopping (docs/distributed.md). Every `local_eval_frequency` steps,
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
After each evaluation the checkpoint of the step is copied to `output_dir/best/TASK/` for
every task (or the one problem) whose dev score it improves (best_checkpoints.py).
"""
import dataclasses
import os
import tempfile
import time

import gin
import keras
import tensorflow as tf
from absl import logging

from t2tlike import metrics as metrics_lib
from t2tlike import precision, run_config, tracing
from t2tlike.errors import Stopped, first_line
from t2tlike.t2t_model import build_model
from t2tlike.training import learning_rate as lr_lib
from t2tlike.training import multitask as multitask_lib
from t2tlike.training import best_checkpoints, distribute, evaluation, optimizers
from t2tlike.training import run_checkpoints, run_control

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
        self.worker = distribute.worker_of(self.strategy)   # only the chief writes the run
        collectives = distribute.Collectives(self.strategy) if self.worker.count > 1 else None
        self._agree = collectives.max if collectives else (lambda wishes: wishes)
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
        mixing = self.tasks.check_model(self.model)   # None for a single problem
        if mixing:
            self.input_config = dataclasses.replace(self.input_config,
                                                    multiproblem_mixing=mixing)
        # Every worker saves (TensorFlow's multi-worker pattern); the others into a folder
        # of their own that is deleted at once.
        self._own_dir = None if self.worker.is_chief else os.path.join(
            tempfile.gettempdir(), f"t2t-worker{self.worker.index}-{os.getpid()}")
        self.checkpoints = run_checkpoints.RunCheckpoints(
            output_dir, dict(model=self.model, optimizer=self.optimizer, step=self.step,
                             skipped_steps=self.skipped_steps, **self.tasks.checkpoint_items()),
            keep_checkpoint_max, write_dir=self._own_dir)
        if self.worker.is_chief:
            self._train_writer = tf.summary.create_file_writer(output_dir)
            self.eval_writer = tf.summary.create_file_writer(os.path.join(output_dir, "eval"))
        else:
            self._train_writer = self.eval_writer = tf.summary.create_noop_writer()
        self.best = best_checkpoints.BestCheckpoints(output_dir)   # per task, the chief's
        self.evaluation = evaluation.Evaluation(self, collectives)
        self.metric_names = self.evaluation.metric_names

    # -- steps (public: the benchmarks build on them) ---------------------------
    def build(self, batch):
        """Creates the model's and optimizer's variables from one batch of features (before
        a checkpoint is restored): on one replica one eager call on its first example,
        on several one traced call on every replica."""
        create = lambda features: self.model(features, training=False)   # noqa: E731
        if self.strategy.num_replicas_in_sync > 1:
            self.strategy.run(tracing.Function(create), args=(batch,))
        with self.strategy.scope():
            if self.strategy.num_replicas_in_sync == 1:
                create({k: v[:1] if v.shape.rank else v for k, v in batch.items()})
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
                num, den = model.training_loss(logits, features)   # what the log reports
                total_den = ctx.all_reduce(tf.distribute.ReduceOp.SUM, den)
                if tasks.weights_examples:   # the loss to minimize: per-task multipliers
                    num_weighted = model.training_loss(
                        logits, tasks.with_loss_weights(features))[0]
                else:
                    num_weighted = num
                loss = num_weighted / tf.maximum(total_den, 1.0)
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

        # several workers: each evaluates its own batches here, evaluation.py sums them
        return replica_step if self.worker.count > 1 else step

    def train_step(self, dataset=None, jit_compile=False):
        """`train_step_fn` as a tf.function (`tracing.Function`: without AutoGraph). Given
        the (undistributed) dataset it will read, on one replica it is traced once for every
        batch shape."""
        return tracing.Function(self.train_step_fn(), input_signature=self._signature(dataset),
                                jit_compile=jit_compile or None)

    def eval_step(self, dataset=None):
        """`eval_step_fn` as a tf.function (see `train_step` for `dataset`)."""
        signature = self._signature(dataset)
        return tracing.Function(self.eval_step_fn(), input_signature=signature,
                                reduce_retracing=signature is None)

    def _signature(self, dataset):
        if isinstance(dataset, tf.distribute.DistributedDataset):
            return [dataset.element_spec]   # one trace on every worker: same collectives
        if dataset is None or self.strategy.num_replicas_in_sync > 1:
            return None
        return [feature_spec(dataset)]

    # -- loop --------------------------------------------------------------------
    def evaluate(self, eval_fn=None, dataset=None):
        """Runs up to `eval_steps` eval batches of `dataset` (default: the dev split; a
        multi-problem's task by task) and returns {metric: value}, or for a multi-problem
        {"TASK/metric": value}, logging them and writing TensorBoard summaries. The task
        hooks then see the tasks' results (an adaptive schedule updates its mixture).
        See evaluation.py (and there for several workers)."""
        eval_fn = eval_fn or self.eval_step()
        return self.evaluation.run(eval_fn, dataset)

    def evaluate_bleu(self, task=None):
        """The dev BLEU of greedy decodes (see evaluation.Evaluation.bleu)."""
        return self.evaluation.bleu(task)

    def _dataset(self, mode, **kwargs):
        ds = self.problem.dataset(mode, self.data_dir, self.input_config, seed=self.seed,
                                  **kwargs)
        return self.strategy.experimental_distribute_dataset(ds) \
            if self.strategy.num_replicas_in_sync > 1 else ds

    def _train_input(self, start):
        """The training input: one tf.data pipeline, or on several replicas one per worker
        (each reading its own files or examples) whose batches go to its replicas in turn."""
        def pipeline(context=None):
            shard = None
            if context is not None and context.num_input_pipelines > 1:
                shard = (context.input_pipeline_id, context.num_input_pipelines)
            seed = self.seed if self.seed is None or context is None else self.seed + start
            ds = self.problem.dataset(TRAIN, self.data_dir, self.input_config, seed=seed,
                                      shard=shard, **self.tasks.dataset_args())
            options = tf.data.Options()   # the iterator is saved; live reads (a task mixture)
            options.experimental_external_state_policy = \
                tf.data.experimental.ExternalStatePolicy.IGNORE   # stay live after a restore
            return ds.with_options(options)

        if self.strategy.num_replicas_in_sync == 1:
            return pipeline()
        # A distributed input's position is not saved: a resumed run reshuffles (seed + step).
        return self.strategy.distribute_datasets_from_function(pipeline)

    def train(self):
        """Trains up to `train_steps` (resuming from the latest checkpoint); returns the
        last eval results. On several workers they agree at every step on when to save and
        stop; losing a worker stops the others (errors.Stopped)."""
        try:
            return self._train()
        except tf.errors.OpError as e:
            if self.worker.count == 1:
                raise
            self._flush()
            raise Stopped(f"worker {self.worker.index} of {self.worker.count} stops at step "
                          f"{int(self.step.numpy())}: {distribute.describe_failure(e)}. "
                          "Restart every worker with the same command to resume from the "
                          f"chief's newest checkpoint in {self.output_dir}.", 1) from None
        finally:
            if self._own_dir and tf.io.gfile.exists(self._own_dir):
                tf.io.gfile.rmtree(self._own_dir)

    def _train(self):
        started = time.time()
        self.build(next(iter(self.problem.dataset(TRAIN, self.data_dir, self.input_config,
                                                  seed=self.seed, shuffle=False))))
        restored = self.checkpoints.restore_latest()
        start = int(self.step.numpy())
        if restored:
            logging.info("Resumed from %s at step %d.", restored, start)
        if start >= self.train_steps:
            logging.info("Already trained %d of %d steps; nothing to do.", start, self.train_steps)
            return {}
        self.tasks.start(start, bool(restored))
        if self.worker.is_chief:
            self._write_operative_config()
        train_ds = self._train_input(start)
        train_fn = self.train_step(train_ds)
        eval_fn = self.eval_step(train_ds if self.strategy.num_replicas_in_sync == 1 else None)
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
                # what this worker wants now; the workers do what any of them wants
                save_by_time, out_of_time, signal = self._agree([
                    0 < self.save_checkpoints_secs <= time.time() - last_save,
                    0 < self.max_train_seconds <= time.time() - started, stop.signal or 0])
                if out_of_time:
                    logging.info("Stopping at step %d: the time budget of %.0f s is spent.",
                                 step, self.max_train_seconds)
                last = step == self.train_steps or out_of_time or signal
                evaluate = self.eval_steps != 0 and (
                    step % self.local_eval_frequency == 0 or step == self.train_steps
                    or out_of_time)
                saved = None
                if last or evaluate or step % self.save_checkpoints_steps == 0 or save_by_time:
                    saved = self.save(step)   # before the eval: one that fails loses nothing
                    last_save = time.time()
                if signal:
                    self._flush()
                    name = run_control.signal_name(signal)
                    raise Stopped(f"stopped by {name} at step {step}; the checkpoint of "
                                  f"step {step} is saved in {self.output_dir}. Run the same "
                                  "command again to resume.", 128 + int(signal))
                if evaluate:
                    evaluated = self._evaluate_or_report(eval_fn, step)
                    if evaluated is not None:
                        results = evaluated
                        if self.tasks.eval_changes_state:  # the adapted mixture, kept too
                            saved = self.save(step)
                        if saved:   # the chief's
                            self.best.keep(self.tasks.dev_scores(evaluated), step, saved)
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
        self.eval_writer.flush()

    def _write_operative_config(self):
        run_config.atomic_write(os.path.join(self.output_dir, run_config.GIN_FILE),
                                gin.operative_config_str())

r"""t2t-trainer: train a registered model on a registered problem.

  t2t-trainer --problem=algorithmic_reverse_binary40 --model=transformer \
              --hparams_set=transformer_tiny --data_dir=$D --output_dir=$O --train_steps=2000

Re-running the same command resumes from the latest checkpoint in --output_dir. On
several machines: the same command on each, with TF_CONFIG naming every worker and this
one (docs/distributed.md); --local_workers=N tries that on this machine.
"""
import os

from absl import flags

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_integer("train_steps", 250000, "Total number of training steps.", lower_bound=0)
flags.DEFINE_integer("eval_steps", 100, "Eval batches per evaluation (0: no eval).",
                     lower_bound=0)
flags.DEFINE_integer("local_eval_frequency", 1000, "Save a checkpoint and then evaluate every "
                     "this many steps.", lower_bound=1)
flags.DEFINE_integer("save_checkpoints_steps", 0, "Also save a checkpoint every this many steps "
                     "(0: at each evaluation only).", lower_bound=0)
flags.DEFINE_float("save_checkpoints_secs", 600.0, "Also save a checkpoint when this many "
                   "seconds have passed since the last one (0: not by time). SIGTERM and "
                   "Ctrl-C save one at the current step before exiting.", lower_bound=0.0)
flags.DEFINE_integer("keep_checkpoint_max", 20, "How many recent checkpoints to keep.",
                     lower_bound=1)
flags.DEFINE_integer("log_step_count_steps", 0, "Log the progress line every this many steps "
                     "(0: every 10 seconds).", lower_bound=0)
flags.DEFINE_bool("generate_data", False, "Run the problem's data generation first.")
flags.DEFINE_integer("worker_replicas", 1, "T2T's number of workers; several workers are "
                     "described by TF_CONFIG here (see t2tlike/training/distribute.py).")
flags.DEFINE_integer("worker_id", 0, "T2T's index of this worker; see --worker_replicas.")
flags.DEFINE_string("worker_job", "/job:localhost", "T2T's job name of the workers; see "
                    "--worker_replicas.")
flags.DEFINE_string("master", "", "T2T's address of this worker; see --worker_replicas.")
flags.DEFINE_integer("ps_replicas", 0, "T2T's parameter servers: refused, training is "
                     "synchronous all-reduce.")
flags.DEFINE_integer("worker_gpu", 0, "GPUs this worker uses, its first N (0: every GPU it "
                     "sees; they train as replicas of one MirroredStrategy).", lower_bound=0)
flags.DEFINE_bool("use_tpu", False, "T2T's TPU switch: refused, TPUs are not available.")
flags.DEFINE_string("tpu", "", "T2T's TPU address: refused, TPUs are not available.")
flags.DEFINE_integer("local_workers", 0, "Start this many workers on this machine "
                     "(127.0.0.1, free ports, CPU threads split among them): multi-worker "
                     "training tried on one box. On a cluster set TF_CONFIG on each worker "
                     "instead.", lower_bound=0)
flags.DEFINE_enum("collective_communication", "auto", ["auto", "ring", "nccl"], "How the "
                  "workers all-reduce the gradients: ring (gRPC), nccl (GPUs) or auto.")
flags.DEFINE_float("collective_timeout_secs", 600.0, "A worker that waits this long for the "
                   "others in one all-reduce fails the job (0: waits for ever). Workers wait "
                   "for the chief while it saves a checkpoint and decodes the BLEU samples, "
                   "so keep it above that. A worker that dies is noticed sooner.",
                   lower_bound=0.0)
flags.DEFINE_float("max_train_seconds", 0.0, "A wall-clock budget: stop (with a checkpoint and "
                   "an eval) once training has run this many seconds (0: no limit).",
                   lower_bound=0.0)


def main(argv):
    from t2tlike import registry
    from t2tlike import run_config
    from t2tlike.files import folder_lock, writable_dir
    from t2tlike.training.trainer import Trainer
    from t2tlike.training import distribute
    cli.require("problem", "model", "hparams_set", "data_dir", "output_dir")
    cluster = distribute.parse_tf_config(os.environ.get("TF_CONFIG", ""))
    distribute.check_t2t_flags(FLAGS.worker_replicas, FLAGS.worker_id, FLAGS.worker_job,
                               FLAGS.master, FLAGS.ps_replicas, cluster, FLAGS.use_tpu,
                               FLAGS.tpu)
    distribute.use_gpus(FLAGS.worker_gpu)
    if FLAGS.local_workers > 1:
        return _launch_local_workers(cluster)
    strategy = distribute.make_strategy(cluster, FLAGS.collective_communication,
                                        FLAGS.collective_timeout_secs)
    chief = distribute.worker_of(strategy).is_chief
    problem = registry.problem(FLAGS.problem)
    registry.model(FLAGS.model)  # fail on a bad name before any work
    if FLAGS.generate_data:
        os.makedirs(FLAGS.data_dir, exist_ok=True)
        os.makedirs(FLAGS.tmp_dir, exist_ok=True)
        problem.generate_data(FLAGS.data_dir, FLAGS.tmp_dir)
    problem.data_files(FLAGS.data_dir, "train")  # a clear message if there is no data
    writable_dir(FLAGS.output_dir, "--output_dir")
    hparams = run_config.resolve(FLAGS.output_dir, FLAGS.problem, FLAGS.model,
                                 FLAGS.hparams_set, FLAGS.hparams)
    from t2tlike.training import learning_rate
    learning_rate.parse_factors(hparams.learning_rate_schedule)
    hparams.freeze()
    # The trainer builds the model (its cross-checks raise here) before anything is written.
    trainer = Trainer(problem, FLAGS.model, hparams, FLAGS.data_dir, FLAGS.output_dir,
                      train_steps=FLAGS.train_steps, eval_steps=FLAGS.eval_steps,
                      local_eval_frequency=FLAGS.local_eval_frequency,
                      keep_checkpoint_max=FLAGS.keep_checkpoint_max,
                      random_seed=FLAGS.random_seed,
                      max_train_seconds=FLAGS.max_train_seconds,
                      save_checkpoints_steps=FLAGS.save_checkpoints_steps,
                      save_checkpoints_secs=FLAGS.save_checkpoints_secs,
                      log_every_steps=FLAGS.log_step_count_steps, strategy=strategy)
    if not chief:   # the chief writes the run's files
        trainer.train()
        return
    with folder_lock(FLAGS.output_dir, "t2t-trainer", "--output_dir"):
        run_config.save(FLAGS.output_dir, hparams, FLAGS.problem, FLAGS.model,
                        FLAGS.hparams_set, FLAGS.hparams)
        trainer.train()


def _launch_local_workers(cluster):
    from t2tlike.errors import Stopped, UserError
    from t2tlike.training import local_workers
    if cluster is not None:
        raise UserError("both TF_CONFIG and --local_workers are set; --local_workers writes "
                        "each worker's TF_CONFIG itself: unset TF_CONFIG.")
    given = [line for name in FLAGS if FLAGS[name].present and name != "local_workers"
             for line in FLAGS[name].serialize().split("\n")]
    status, signal = local_workers.launch(given, FLAGS.local_workers, hide=cli.START_UP_NOISE)
    if status and signal:
        from t2tlike.training.run_control import signal_name
        raise Stopped(f"the workers stopped on {signal_name(signal)}; run the same command "
                      "again to resume.", status)
    if status:
        raise Stopped(f"a local worker failed (exit status {status}); see the workers' "
                      "lines above.", status)


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()

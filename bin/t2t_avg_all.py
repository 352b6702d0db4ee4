r"""t2t-avg-all: average the last N checkpoints of a run into one checkpoint.

  t2t-avg-all --model_dir=$O --output_dir=$O/avg [--n=8] [--min_steps=0]
  t2t-decoder --output_dir=$O/avg --problem=P --model=transformer --data_dir=$D ...

Float variables are averaged; step counters come from the newest checkpoint. The average
is saved as <output_dir>/model-<newest step> with its `checkpoint` state file, and the
run's hparams.json / run.json / operative_config.gin are copied next to it, so the decoder
restores it like any trained run. Without --output_dir the average goes to <model_dir>/avg.
"""
import os

from absl import flags

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "The run's directory (t2t-trainer --output_dir) with "
                    "the checkpoints to average.")
flags.DEFINE_integer("n", 8, "How many of the last checkpoints to average.")
flags.DEFINE_integer("min_steps", 0, "Ignore checkpoints of fewer steps than this.")


def main(argv):
    from t2tlike.training import checkpoint_averaging
    cli.require("model_dir")
    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, "avg")
    result = checkpoint_averaging.average_last(FLAGS.model_dir, output_dir, n=FLAGS.n,
                                               min_steps=FLAGS.min_steps)
    print(f"Averaged {len(result.steps)} checkpoints (steps {result.steps[0]}.."
          f"{result.steps[-1]}) into {result.path}")


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()

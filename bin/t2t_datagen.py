"""t2t-datagen: generate a problem's vocabulary and sharded TFRecords into --data_dir.

  t2t-datagen --problem=algorithmic_reverse_binary40 --data_dir=$D --tmp_dir=$T
"""
import os

from absl import flags

from t2tlike_cli import cli

FLAGS = flags.FLAGS


def main(argv):
    from t2tlike import registry
    from t2tlike.files import folder_lock
    cli.require("problem", "data_dir")
    problem = registry.problem(FLAGS.problem)
    os.makedirs(FLAGS.tmp_dir, exist_ok=True)
    data_dir = os.path.expanduser(FLAGS.data_dir)
    with folder_lock(data_dir, "t2t-datagen", "--data_dir"):
        problem.generate_data(data_dir, os.path.expanduser(FLAGS.tmp_dir))
    print(f"Generated {problem.name} in {FLAGS.data_dir}")


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()

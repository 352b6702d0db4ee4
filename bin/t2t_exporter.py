r"""t2t-exporter: a trained model as a TensorFlow SavedModel that answers raw text.

  t2t-exporter --problem=P --model=transformer --hparams_set=transformer_base \
               --data_dir=$D --output_dir=$O [--checkpoint_path=$O/model-N] \
               [--decode_hparams="beam_size=4,alpha=0.6"] [--export_dir=DIR] [--task=NAME]

Restores the run's latest checkpoint (or --checkpoint_path), strictly, and writes
<output_dir>/export/<unix time>/ (the layout TensorFlow Serving watches) or --export_dir:
signature serving_default takes UTF-8 strings and returns the decodes and their scores,
serving_ids takes and returns ids; the search (greedy or beam, the --decode_hparams given
here) runs inside the graph. See t2tlike/export.py. --export_format=ctranslate2 writes a
CTranslate2 model folder instead (t2tlike/ctranslate2_export.py; docs/serving.md).

A multi-problem (`--problem=a+b`, or a registered MultiProblem) is exported one task at a
time, as t2t-decoder decodes it: --task=NAME (or its index) picks the task, whose tag
goes in front of every input line (unless the line starts with a tag) and whose targets
encoder names the outputs (a class label for a classification task).
"""
import os
import time

from absl import flags

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (must not exist; default: "
                    "<output_dir>/export/<unix time>).")
flags.DEFINE_enum("export_format", "saved_model", ["saved_model", "ctranslate2"],
                  "saved_model: a TensorFlow SavedModel that answers raw text; ctranslate2: a "
                  "CTranslate2 model folder (an encoder-decoder transformer; needs the extra "
                  "[ctranslate2]; see docs/serving.md).")
flags.DEFINE_enum("ctranslate2_quantization", None,
                  ["int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16",
                   "bfloat16", "float32"],
                  "With --export_format=ctranslate2: CTranslate2's weight type (default: "
                  "float32, as trained).")


def main(argv):
    from t2tlike import export, registry
    from t2tlike.decoding import decoder as decoder_lib
    from t2tlike.decoding import tasks
    from t2tlike.errors import UserError
    cli.require("problem", "model", "data_dir")
    if not (FLAGS.output_dir or FLAGS.checkpoint_path):
        raise UserError("missing required flag: --output_dir (or --checkpoint_path).")
    if not (FLAGS.export_dir or FLAGS.output_dir):
        raise UserError("missing required flag: --export_dir (or --output_dir, whose "
                        "export/<unix time> is the default).")
    if FLAGS.export_dir and os.path.exists(FLAGS.export_dir):
        raise UserError(f"--export_dir={FLAGS.export_dir} exists already; exports are never "
                        "overwritten. Give a new folder.")
    problem = registry.problem(FLAGS.problem)
    task = tasks.task_index(problem, FLAGS.task)
    if task is None and getattr(problem, "num_tasks", None):
        raise UserError(f"--problem={FLAGS.problem} has several tasks "
                        f"({', '.join(problem.task_names)}); an export answers one: give "
                        "--task=NAME (or its index), one export per task.")
    registry.model(FLAGS.model)
    if FLAGS.export_format == "ctranslate2" and (task is not None or FLAGS.decode_hparams):
        raise UserError("--export_format=ctranslate2 takes neither --task (a multi-problem's "
                        "task) nor --decode_hparams (CTranslate2 takes its search options "
                        "when it translates); leave them out.")
    if FLAGS.ctranslate2_quantization and FLAGS.export_format != "ctranslate2":
        raise UserError("--ctranslate2_quantization applies to --export_format=ctranslate2 "
                        "only; leave it out or add that flag.")
    dhp = decoder_lib.decode_hparams(FLAGS.decode_hparams)
    if dhp.num_samples > 0 or dhp.write_beam_scores:
        raise UserError("--decode_hparams: num_samples and write_beam_scores apply to "
                        "decoding files, not to an export; leave them out.")
    encoders = tasks.feature_encoders(problem, FLAGS.data_dir, task)
    checkpoint, hparams, model, dhp = cli.restore_trained_model(problem, dhp)
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.output_dir, "export",
                                                  str(int(time.time())))
    if FLAGS.export_format == "ctranslate2":
        from t2tlike import ctranslate2_export
        ctranslate2_export.export_ctranslate2(model, hparams, encoders.get("inputs"),
                                              encoders["targets"], export_dir,
                                              quantization=FLAGS.ctranslate2_quantization)
        print(f"Exported {checkpoint} to {export_dir} (CTranslate2)")
        return
    info = dict(problem=FLAGS.problem, model=FLAGS.model, hparams_set=FLAGS.hparams_set,
                checkpoint=os.path.abspath(checkpoint))
    if task is not None:
        info["task"] = problem.task_names[task]
    export.export_model(model, encoders.get("inputs"), encoders["targets"], dhp, export_dir,
                        info=info, class_label=tasks.is_class_label(model, task))
    print(f"Exported {checkpoint} to {export_dir}")


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()

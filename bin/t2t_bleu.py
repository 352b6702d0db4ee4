"""t2t-bleu: sacreBLEU of a translation file against a reference file.

  t2t-bleu --translation=out.de --reference=ref.de [--bleu_variant=uncased]

Detokenized BLEU with the 13a tokenizer, cased by default, printed with its signature.
"""
from absl import flags

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_string("translation", None, "File of system outputs, one sentence a line.")
flags.DEFINE_string("reference", None, "File of references, one sentence a line.")
flags.DEFINE_enum("bleu_variant", "cased", ["cased", "uncased"], "Case-sensitive or not.")


def main(argv):
    from t2tlike.errors import UserError
    from t2tlike.files import read_text
    from t2tlike.metrics import corpus_bleu
    cli.require("translation", "reference")
    hyp, ref = (read_text(FLAGS[flag].value, f"--{flag}").splitlines()
                for flag in ("translation", "reference"))
    if len(hyp) != len(ref):
        raise UserError(f"--translation has {len(hyp)} lines but --reference has {len(ref)}; "
                        "they must match line for line.")
    if not ref:
        raise UserError(f"--translation ({FLAGS.translation}) and --reference "
                        f"({FLAGS.reference}) are empty: expected one sentence a line.")
    print(corpus_bleu(hyp, ref, lowercase=FLAGS.bleu_variant == "uncased").report())


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()

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
    import os

    import sacrebleu

    from t2tlike.errors import UserError
    cli.require("translation", "reference")
    texts = {}
    for flag in ("translation", "reference"):
        path = FLAGS[flag].value
        if not os.path.isfile(path):
            raise UserError(f"--{flag}: {path} does not exist or is not a file.")
        try:
            with open(path, encoding="utf-8") as f:
                texts[flag] = f.read().splitlines()
        except UnicodeDecodeError as e:
            raise UserError(f"--{flag}: {path} is not valid UTF-8 (byte {e.start}).")
    hyp, ref = texts["translation"], texts["reference"]
    if len(hyp) != len(ref):
        raise UserError(f"--translation has {len(hyp)} lines but --reference has {len(ref)}; "
                        "they must match line for line.")
    metric = sacrebleu.BLEU(tokenize="13a", lowercase=FLAGS.bleu_variant == "uncased")
    score = metric.corpus_score(hyp, [ref])
    print(f"BLEU = {score.score:.2f}")
    print(score.format(signature=str(metric.get_signature())))


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()

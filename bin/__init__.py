"""The command-line tools (installed as t2t-datagen, t2t-trainer, t2t-decoder, t2t-bleu)."""

#!/usr/bin/env bash
# The main job on its built-in default, no downloads: generate the algorithmic reversal
# problem, train an LSTM with attention on it (T2T's lstm_seq2seq_attention, without
# dropout), then decode the held-out test strings and report exact-match accuracy.
# Override with environment variables, e.g.
#   MODEL=transformer HPARAMS_SET=transformer_tiny HPARAMS= bash examples/quickstart.sh
# (the tiny Transformer does not learn reversal in a few thousand steps on this task; see
# docs/benchmarks.md, "Algorithmic reversal").
set -euo pipefail
PROBLEM=${PROBLEM:-algorithmic_reverse_binary40}
MODEL=${MODEL:-lstm_seq2seq_attention}
HPARAMS_SET=${HPARAMS_SET:-lstm_attention}
HPARAMS=${HPARAMS-dropout=0.0}
TRAIN_STEPS=${TRAIN_STEPS:-4000}
WORK=${WORK:-$HOME/t2t_quickstart}
DATA_DIR=$WORK/data
OUT_DIR=$WORK/train/$PROBLEM/$MODEL-$HPARAMS_SET

t2t-datagen --problem="$PROBLEM" --data_dir="$DATA_DIR" --tmp_dir="$WORK/tmp"
t2t-trainer --problem="$PROBLEM" --model="$MODEL" --hparams_set="$HPARAMS_SET" \
  --hparams="$HPARAMS" --data_dir="$DATA_DIR" --output_dir="$OUT_DIR" \
  --train_steps="$TRAIN_STEPS" --local_eval_frequency=1000 --eval_steps=20
# Decode the test split (1,000 strings of length 1-40 never seen in training).
t2t-decoder --problem="$PROBLEM" --model="$MODEL" --hparams_set="$HPARAMS_SET" \
  --data_dir="$DATA_DIR" --output_dir="$OUT_DIR" --decode_split=test \
  --decode_hparams="beam_size=1,batch_size=100" --decode_to_file="$OUT_DIR/test_decodes.txt"

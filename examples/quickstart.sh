#!/usr/bin/env bash
# The main job on its built-in default, no downloads: generate the algorithmic reversal
# problem, train an LSTM with attention on it (T2T's lstm_seq2seq_attention with the
# lstm_attention_reverse set: multiplicative attention, no dropout, a short-run learning
# rate; see its docstring) for 1,000 steps, then decode the held-out test strings and
# report exact-match accuracy.
#
#   MODEL=transformer bash examples/quickstart.sh
# trains transformer_tiny_reverse instead (T2T's transformer_tiny with relative-position
# self-attention, Shaw et al., 2018, no dropout and half its peak learning rate; see its
# docstring) for 8,000 steps: with its absolute (sinusoidal) positions alone,
# transformer_tiny does not learn reversal in a few thousand steps (docs/benchmarks.md,
# "Algorithmic reversal"). Any setting can be overridden, e.g.
#   MODEL=transformer HPARAMS=learning_rate_constant=2.0 TRAIN_STEPS=6000 bash examples/quickstart.sh
set -euo pipefail
PROBLEM=${PROBLEM:-algorithmic_reverse_binary40}
MODEL=${MODEL:-lstm_seq2seq_attention}
if [ "$MODEL" = transformer ]; then
  HPARAMS_SET=${HPARAMS_SET:-transformer_tiny_reverse}
  HPARAMS=${HPARAMS-}
  TRAIN_STEPS=${TRAIN_STEPS:-8000}
else
  HPARAMS_SET=${HPARAMS_SET:-lstm_attention_reverse}
  HPARAMS=${HPARAMS-}
  TRAIN_STEPS=${TRAIN_STEPS:-1000}
fi
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

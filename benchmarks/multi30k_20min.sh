#!/usr/bin/env bash
# Benchmark: Transformer on Multi30k en->de for a fixed wall-clock budget on this machine,
# then beam-4 decoding of test_2016_flickr scored with sacreBLEU (docs/benchmarks.md).
#
#   bash benchmarks/multi30k_20min.sh            # 20 minutes of training (1200 s)
#   BUDGET_S=300 bash benchmarks/multi30k_20min.sh
#
# Env: MULTI30K (folder with train/val/test_2016_flickr.{en,de}.gz; default
# ../shared/data/multi30k beside the repo), WORK (default /tmp/t2t_multi30k),
# HPARAMS_SET (default transformer_multi30k), HPARAMS (extra overrides), BUDGET_S,
# CKPT_EVERY (save a checkpoint every this many steps, for t2t-avg-all; default: only at
# the end) and EVAL_STEPS (dev batches evaluated at each checkpoint; default 20).
# Nothing else heavy should run meanwhile: the figure is a 2-core CPU figure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MULTI30K=${MULTI30K:-$HERE/../shared/data/multi30k}
WORK=${WORK:-/tmp/t2t_multi30k}
PROBLEM=${PROBLEM:-translate_ende_multi30k}
HPARAMS_SET=${HPARAMS_SET:-transformer_multi30k}
HPARAMS=${HPARAMS:-}
BUDGET_S=${BUDGET_S:-1200}
CKPT_EVERY=${CKPT_EVERY:-100000}
EVAL_STEPS=${EVAL_STEPS:-20}
RUN=$WORK/runs/$HPARAMS_SET-${BUDGET_S}s
DATA=$WORK/data
mkdir -p "$WORK" "$RUN"
[ -f "$MULTI30K/test_2016_flickr.en.gz" ] || { echo "no Multi30k files in $MULTI30K (set MULTI30K=...)" >&2; exit 2; }

t2t-datagen --problem="$PROBLEM" --data_dir="$DATA" --tmp_dir="$MULTI30K"
rm -rf "$RUN/train"
/usr/bin/time -v -o "$RUN/time_train.txt" \
  t2t-trainer --problem="$PROBLEM" --model=transformer --hparams_set="$HPARAMS_SET" \
    --hparams="$HPARAMS" --data_dir="$DATA" --output_dir="$RUN/train" \
    --train_steps=1000000 --max_train_seconds="$BUDGET_S" \
    --local_eval_frequency="$CKPT_EVERY" --eval_steps="$EVAL_STEPS" --random_seed=1 2>&1 | tee "$RUN/train.log"
gunzip -c "$MULTI30K/test_2016_flickr.en.gz" > "$RUN/test.en"
gunzip -c "$MULTI30K/test_2016_flickr.de.gz" > "$RUN/test.de"
/usr/bin/time -v -o "$RUN/time_decode.txt" \
  t2t-decoder --problem="$PROBLEM" --model=transformer --hparams_set="$HPARAMS_SET" \
    --data_dir="$DATA" --output_dir="$RUN/train" \
    --decode_hparams="beam_size=4,alpha=0.6,batch_size=64" \
    --decode_from_file="$RUN/test.en" --decode_to_file="$RUN/test.hyp.de" \
    --decode_reference="$RUN/test.de" 2>&1 | tee "$RUN/decode.log"
t2t-bleu --translation="$RUN/test.hyp.de" --reference="$RUN/test.de" | tee "$RUN/bleu.txt"
grep -h "Maximum resident" "$RUN/time_train.txt" "$RUN/time_decode.txt" || true

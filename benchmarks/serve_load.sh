#!/usr/bin/env bash
# Benchmark: a trained Multi30k en->de model decoded by t2t-decoder's Decoder, by its
# export in-process (serving.Translator) and through t2t-serve with 1, 8 and 64
# concurrent clients, and as CTranslate2 models (float32, int8); beam 4, test_2016_flickr
# (1,000 lines). Figures: docs/benchmarks.md ("Serving").
#
#   bash benchmarks/serve_load.sh
#
# Trains transformer_multi30k for STEPS updates first (default 400, seed 1; a run already
# in RUN/train is resumed to STEPS), as benchmarks/multi30k_20min.sh does but by steps.
# Env: MULTI30K (the corpus folder, default ../shared/data/multi30k), WORK, RUN, STEPS,
# DECODE (decode hparams of the export and of the decoder), CLIENTS.
# Nothing else heavy should run meanwhile.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK=${WORK:-/tmp/t2t_multi30k}
MULTI30K=${MULTI30K:-$HERE/../shared/data/multi30k}
STEPS=${STEPS:-400}
RUN=${RUN:-$WORK/runs/serve-${STEPS}steps}
DATA=$WORK/data
DECODE=${DECODE:-beam_size=4,alpha=0.6,extra_length=50,early_stopping=True}
CLIENTS=${CLIENTS:-1,8,64}
[ -f "$MULTI30K/test_2016_flickr.en.gz" ] || { echo "no Multi30k files in $MULTI30K (set MULTI30K=...)" >&2; exit 2; }
mkdir -p "$RUN"
t2t-datagen --problem=translate_ende_multi30k --data_dir="$DATA" --tmp_dir="$MULTI30K"
t2t-trainer --problem=translate_ende_multi30k --model=transformer \
  --hparams_set=transformer_multi30k --data_dir="$DATA" --output_dir="$RUN/train" \
  --train_steps="$STEPS" --local_eval_frequency=100000 --eval_steps=20 --random_seed=1
gunzip -c "$MULTI30K/test_2016_flickr.en.gz" > "$RUN/test.en"
gunzip -c "$MULTI30K/test_2016_flickr.de.gz" > "$RUN/test.de"
rm -rf "$RUN/serve_export"
t2t-exporter --problem=translate_ende_multi30k --model=transformer \
  --hparams_set=transformer_multi30k --data_dir="$DATA" --output_dir="$RUN/train" \
  --decode_hparams="$DECODE" --export_dir="$RUN/serve_export/1"
python "$HERE/benchmarks/decode_speed.py" --data_dir="$DATA" --checkpoint_path="$RUN/train" \
  --input="$RUN/test.en" --output="$RUN/decoder.de" --decode_hparams="$DECODE,batch_size=64"
python "$HERE/benchmarks/serve_load.py" --export="$RUN/serve_export" --input="$RUN/test.en" \
  --reference="$RUN/decoder.de" --clients="$CLIENTS" --batch_size=64
t2t-bleu --translation="$RUN/decoder.de" --reference="$RUN/test.de"
# The same checkpoint as CTranslate2 models (float32 and int8), beam 4, batch 64.
for q in float32 int8; do
  rm -rf "$RUN/ct2_$q"
  t2t-exporter --problem=translate_ende_multi30k --model=transformer \
    --hparams_set=transformer_multi30k --data_dir="$DATA" --output_dir="$RUN/train" \
    --export_format=ctranslate2 --ctranslate2_quantization=$q --export_dir="$RUN/ct2_$q"
  python "$HERE/benchmarks/ctranslate2_speed.py" --model_dir="$RUN/ct2_$q" \
    --spm="$(ls "$DATA"/vocab.translate_ende_multi30k.*.model | head -1)" \
    --input="$RUN/test.en" --reference="$RUN/test.de"
done

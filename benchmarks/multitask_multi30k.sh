#!/usr/bin/env bash
# Benchmark: multi-task schedules on Multi30k, low-resource en->de (10% of the training
# pairs, translate_ende_multi30k_small) beside full en->fr, one Transformer with a shared
# vocabulary and a task tag (docs/multitask.md, docs/benchmarks.md).
#
#   bash benchmarks/multitask_multi30k.sh                 # every run below, in order
#   RUNS="proportional temperature_5" bash benchmarks/multitask_multi30k.sh
#
# Runs (each trains STEPS updates from scratch on the same data and vocabulary, with the
# default task mixing: a task drawn per example; then decodes test_2016_flickr with beam 4
# from each task's best dev checkpoint, output_dir/best/TASK, and scores it with sacreBLEU):
#   single_ende        only the en->de task (constant schedule, threshold 1.0)
#   single_enfr        only the en->fr task (constant schedule, threshold 0.0)
#   proportional       p_i = n_i / sum n
#   temperature_5      p_i ∝ n_i^(1/5)
#   temperature_1.5    p_i ∝ n_i^(1/1.5)
#   adaptive_inverse   Jean et al. (2019), explicit, w_i = 1 / (r_i + eps)
#   adaptive_simple    explicit, w_i = 1 + eps - r_i
#   adaptive_implicit  the mixture kept at its warm-up one, each example's loss re-weighted
# The adaptive runs' baselines b_i are the single-task runs' best dev BLEU (run those
# first, or set BASELINES="de,fr"). Every run evaluates every EVAL_EVERY steps (dev loss on
# 5 batches and greedy dev BLEU of the first 200 dev sentences per task), so the budgets are
# equal: the adaptive runs need the evaluations. At the end, runs/dev_bleu.tsv holds every
# run's dev BLEU per task and step and runs/summary.md the table of test BLEU.
#
# Env: MULTI30K (default ../shared/data/multi30k beside the repo), WORK (default
# /tmp/t2t_multitask), STEPS (default 700), EVAL_EVERY (default 100), HPARAMS_SET (default
# transformer_multitask_multi30k), RUNS, BASELINES, EXTRA_HPARAMS (added to every run's
# --hparams, e.g. multiproblem_mixing=batch for one task per batch). Equal steps at the same batch size is
# equal training compute; the script reports each run's training wall time as well.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MULTI30K=${MULTI30K:-$HERE/../shared/data/multi30k}
WORK=${WORK:-/tmp/t2t_multitask}
STEPS=${STEPS:-700}
EVAL_EVERY=${EVAL_EVERY:-100}
HPARAMS_SET=${HPARAMS_SET:-transformer_multitask_multi30k}
RUNS=${RUNS:-single_ende single_enfr proportional temperature_5 temperature_1.5 adaptive_inverse adaptive_simple adaptive_implicit}
DE=translate_ende_multi30k_small
FR=translate_enfr_multi30k
PROBLEM=$DE+$FR
DATA=$WORK/data
COMMON="eval_bleu_samples=200${EXTRA_HPARAMS:+,$EXTRA_HPARAMS}"
[ -f "$MULTI30K/test_2016_flickr.en.gz" ] || { echo "no Multi30k files in $MULTI30K (set MULTI30K=...)" >&2; exit 2; }
mkdir -p "$WORK/runs"
t2t-datagen --problem="$PROBLEM" --data_dir="$DATA" --tmp_dir="$MULTI30K"
for lang in en de fr; do
  [ -f "$WORK/test.$lang" ] || gunzip -c "$MULTI30K/test_2016_flickr.$lang.gz" > "$WORK/test.$lang"
done

best_dev_bleu() {   # best_dev_bleu RUN TASK: the highest TASK/bleu of the run's eval lines
  grep -o "$2/bleu = [0-9.]*" "$WORK/runs/$1/train.log" | awk '{print $3}' | sort -g | tail -1
}

baselines() {
  if [ -n "${BASELINES:-}" ]; then echo "$BASELINES"; return; fi
  local de fr
  de=$(best_dev_bleu single_ende $DE); fr=$(best_dev_bleu single_enfr $FR)
  [ -n "$de" ] && [ -n "$fr" ] || { echo "adaptive runs need the single-task runs first (or BASELINES=de,fr)" >&2; exit 2; }
  echo "$de,$fr"
}

run() {   # run NAME HPARAMS TASK...
  local name=$1 hparams=$2; shift 2
  local dir=$WORK/runs/$name
  rm -rf "$dir"; mkdir -p "$dir"
  local start=$SECONDS
  t2t-trainer --problem="$PROBLEM" --model=transformer --hparams_set="$HPARAMS_SET" \
    --hparams="$COMMON,$hparams" --data_dir="$DATA" --output_dir="$dir/train" \
    --train_steps="$STEPS" --local_eval_frequency="$EVAL_EVERY" --eval_steps=5 \
    --random_seed=1 > "$dir/train.log" 2>&1
  echo "$name: trained $STEPS steps in $((SECONDS - start)) s (evaluations included)" | tee "$dir/summary.txt"
  for task in "$@"; do
    local lang=${task:12:2}
    t2t-decoder --problem="$PROBLEM" --task="$task" --model=transformer \
      --hparams_set="$HPARAMS_SET" --data_dir="$DATA" --output_dir="$dir/train" \
      --checkpoint_path="$dir/train/best/$task" \
      --decode_hparams="beam_size=4,alpha=0.6,batch_size=64" \
      --decode_from_file="$WORK/test.en" --decode_to_file="$dir/test.hyp.$lang" \
      > "$dir/decode.$lang.log" 2>&1
    echo "$name $task best dev step $(python -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]['step'])" "$dir/train/best/best.json" "$task") test BLEU: $(t2t-bleu --translation="$dir/test.hyp.$lang" \
      --reference="$WORK/test.$lang" | tail -1)" | tee -a "$dir/summary.txt"
  done
}

for r in $RUNS; do
  case $r in
    single_ende) run $r "multiproblem_schedule=constant,multiproblem_schedule_threshold=1.0" $DE ;;
    single_enfr) run $r "multiproblem_schedule=constant,multiproblem_schedule_threshold=0.0" $FR ;;
    proportional) run $r "multiproblem_schedule=proportional" $DE $FR ;;
    temperature_5) run $r "multiproblem_schedule=temperature,multiproblem_temperature=5.0" $DE $FR ;;
    temperature_1.5) run $r "multiproblem_schedule=temperature,multiproblem_temperature=1.5" $DE $FR ;;
    adaptive_inverse) run $r "multiproblem_schedule=adaptive,multiproblem_adaptive_kind=inverse,multiproblem_adaptive_baselines=[$(baselines)]" $DE $FR ;;
    adaptive_simple) run $r "multiproblem_schedule=adaptive,multiproblem_adaptive_kind=simple,multiproblem_adaptive_baselines=[$(baselines)]" $DE $FR ;;
    adaptive_implicit) run $r "multiproblem_schedule=adaptive_implicit,multiproblem_adaptive_baselines=[$(baselines)]" $DE $FR ;;
    *) echo "unknown run $r" >&2; exit 2 ;;
  esac
done
python "$HERE/benchmarks/multitask_report.py" "$WORK/runs"

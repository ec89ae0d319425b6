#!/usr/bin/env bash
# The fair comparison of issue 11, as one resumable script (finished runs are skipped by signature):
#   1. tune   every family x budget on the same lr x weight-decay grid (a 5k-image, 5-epoch screen
#             on Fashion-MNIST; the whole digits set), seed 0: conf/sweep/fair_tune.yaml
#   2. select each (dataset, budget, family)'s grid point on validation accuracy only:
#             frozen-bench fair-select -> results/fair/selected.csv
#   3. final  each selected configuration with seeds 0-4 and the same recipe for every family:
#             quick: 10k Fashion-MNIST training images, 10 epochs; full: the whole set, 20 epochs
#   4. small  (full profile) training-set sizes 100..10k at 20k trainable, best frozen vs best
#             trained family of the selection, the same number of optimizer steps at every size
#   5. collect + figures (+ the fair tables in results/tables.md)
# Jobs run two at a time, one thread each (JOBS=N to change). Usage: scripts/fair.sh [quick|full]
set -uo pipefail
profile=${1:-quick}
case "$profile" in quick|full) ;; *) echo "usage: scripts/fair.sh quick|full" >&2; exit 2;; esac
cd "$(dirname "$0")/.."
make -s setup || exit 1
fb=.venv/bin/frozen-bench
jobs=${JOBS:-2}
results=${RESULTS:-results}
start=$(date +%s)
stamp() { echo "=== fair $profile: $1 — $(( $(date +%s) - start )) s elapsed"; }
par=(hydra/launcher=joblib "hydra.launcher.n_jobs=$jobs" trainer.threads=1 "results_dir=$results")

case "$profile" in
  quick) fmnist_final=(dataset.subset=10000 trainer.epochs=10) ;;
  full)  fmnist_final=(dataset.subset=null trainer.epochs=20) ;;
esac
controls=family=frozen_cnn_random_filters,frozen_cnn_identity_mix,frozen_cnn_relu,frozen_cnn_probe
digits=(dataset=digits dataset.image=true dataset.subset=null trainer.epochs=30)

# one dataset through tune -> select -> final; $1 = dataset, the rest: its final-stage settings
protocol() {
  local ds=$1; shift
  local final=("$@") extra=()
  [ "$ds" = digits ] && extra=("${digits[@]}")
  stamp "1/5 tune $ds: 7 families x budgets x 6 grid points, then the 4 controls at the first budget"
  local budgets=8000,20000 first=8000
  [ "$ds" = digits ] && budgets=2000,5000 first=2000
  "$fb" run -m +sweep=fair_tune "${extra[@]}" model.budget=$budgets "${par[@]}"
  "$fb" run -m +sweep=fair_tune "${extra[@]}" $controls model.budget=$first "${par[@]}"
  "$fb" collect --results-dir "$results" >/dev/null
  stamp "2/5 select on validation"
  "$fb" fair-select --csv "$results/all.csv" --out "$results/fair/selected.csv" --print-overrides \
    > "$results/fair/selected.txt" || exit 1
  stamp "3/5 final $ds: $(grep -c -- "dataset=$ds\b" "$results/fair/selected.txt") configurations x 5 seeds"
  grep -- "dataset=$ds\b" "$results/fair/selected.txt" | while read -r line; do
    for seed in 0 1 2 3 4; do
      echo "+profile=$profile +sweep=fair_final $line ${final[*]} seed=$seed trainer.threads=1 results_dir=$results"
    done
  done | xargs -P "$jobs" -L 1 "$fb" run 2>&1 | grep -E "^\[frozen-bench\] (ok|diverged|skip)|error"
  "$fb" collect --results-dir "$results" >/dev/null
}

mkdir -p "$results/fair"
protocol fashion_mnist "${fmnist_final[@]}"
protocol digits "${digits[@]}"

if [ "$profile" = full ]; then
  stamp "4/5 small data"
  for fam in $(.venv/bin/python -c "
import pandas as pd; s = pd.read_csv('$results/fair/selected.csv')
s = s[(s.dataset == 'fashion_mnist') & (s.budget == 20000)]
for kind in ('frozen', 'trained'):
    k = s[s.family_kind == kind]
    if len(k): print(k.sort_values('best_val_accuracy').iloc[-1].family)"); do
    line=$(grep -- "+family=$fam model.budget=20000 .*dataset=fashion_mnist" "$results/fair/selected.txt")
    for n in 100 300 1000 3000 10000; do for seed in 0 1 2 3 4; do
      echo "+profile=$profile +sweep=fair_final exp_name=fair_small $line dataset.subset=$n trainer.epochs=100000 trainer.max_steps=2000 seed=$seed trainer.threads=1 results_dir=$results"
    done; done
  done | xargs -P "$jobs" -L 1 "$fb" run 2>&1 | grep -E "^\\[frozen-bench\\] (ok|diverged|skip)|error"
fi

stamp "5/5 collect + figures"
"$fb" collect --results-dir "$results"
"$fb" figures --csv "$results/all.csv" --out "$results/figures"
stamp "done"

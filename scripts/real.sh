#!/usr/bin/env bash
# The real-data experiments of issue 13, resumable (finished runs are skipped by signature):
#
#   quick  (~15 min on 2 cores)  the flagship +exp=cifar_wht and its trained peer +exp=cifar_trained
#          on 10k CIFAR-10 training images (seed 0), and the speech diagnostic +sweep=speech_why on
#          the log-mel and MFCC front ends (24 of its 36 validation-only runs on the real 12-class
#          set: the same runs, so their records are shared with the full profile)
#   full   (~1 h on 2 cores)     the flagship presets cifar_wht, cifar_dct, cifar_trained on the full
#          45k/5k/10k split with seeds 0-2, and speech_why; then the fair protocol on the real sets
#          (scripts/fair.sh quick cifar10,speech, another ~50 min)
#
# CIFAR-10 is read from the official batches when present, else the JPEG copy (dataset.source=auto:
# the dataset column then says cifar10_jpeg); speech from the speech_commands_test12 folder (see
# docs/presets.md). Jobs run two at a time, one thread each (JOBS=N). Usage: scripts/real.sh quick|full
set -uo pipefail
profile=${1:-quick}
case "$profile" in quick|full) ;; *) echo "usage: scripts/real.sh quick|full" >&2; exit 2;; esac
cd "$(dirname "$0")/.."
make -s setup || exit 1
fb=.venv/bin/frozen-bench
jobs=${JOBS:-2}
results=${RESULTS:-results}
start=$(date +%s)
stamp() { echo "=== real $profile: $1 — $(( $(date +%s) - start )) s elapsed"; }
run_lines() { "$fb" pending | xargs -P "$jobs" -L 1 "$fb" run 2>&1 | grep -E "\[frozen-bench\] (ok|diverged|skip)|error"; }
# the speech diagnostic's lr and weight decay: frozen_audio's choice in the fair selection at 20k
speech_hp=(optim.lr=0.003 optim.weight_decay=0.05)

case "$profile" in
  quick) stamp "1/3 flagship and trained peer, 10k CIFAR-10 images, seed 0"
         for e in cifar_wht cifar_trained; do echo "+exp=$e dataset.subset=10000 seed=0 trainer.threads=1 results_dir=$results"; done | run_lines ;;
  full)  stamp "1/3 flagship presets, full split, seeds 0-2"
         for s in 0 1 2; do for e in cifar_wht cifar_trained cifar_dct; do
           echo "+exp=$e seed=$s trainer.threads=1 results_dir=$results"; done; done | run_lines ;;
esac
# quick: two of the three front ends (the log power spectrum is the slowest and the weakest)
frontends=(); [ "$profile" = quick ] && frontends=(dataset.frontend=logmel,mfcc)
stamp "2/3 speech diagnostic (validation only)"
"$fb" run -m +sweep=speech_why "${speech_hp[@]}" "${frontends[@]}" hydra/launcher=joblib "hydra.launcher.n_jobs=$jobs" \
  trainer.threads=1 "results_dir=$results" 2>&1 | grep -E "\[frozen-bench\] (ok|diverged|skip)|error"
if [ "$profile" = full ]; then
  stamp "3/3 the fair protocol on CIFAR-10 and speech"
  RESULTS=$results JOBS=$jobs scripts/fair.sh quick cifar10,speech
else
  "$fb" collect --results-dir "$results"
  "$fb" figures --csv "$results/all.csv" --out "$results/figures"
fi
stamp "done"

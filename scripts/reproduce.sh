#!/usr/bin/env bash
# Regenerate every number and figure of results/README.md from scratch (or resume: finished runs
# are skipped by signature, so a second invocation only redraws).
#
#   scripts/reproduce.sh quick   the paper as committed: ~15 min on 2 CPU cores, offline
#                                (Fashion-MNIST subsets, digits, synthetic speech, 1-D functions)
#   scripts/reproduce.sh full    whole training sets, more epochs; CIFAR and real Speech Commands
#                                need to be online (download) or placed under $FROZEN_BENCH_DATA
#   scripts/reproduce.sh fair [quick|full] [DATASETS]   the fair comparison (every family at equal
#                                budget, recipe and tuning, selected on validation, 5 seeds): see scripts/fair.sh
#   scripts/reproduce.sh real [quick|full]   the flagship on real CIFAR-10 and the real speech set:
#                                see scripts/real.sh
#   scripts/reproduce.sh stale   re-run (force=true) every finished record of results/ made by code whose
#                                models/nn/train/data differ from HEAD (frozen-bench pending --stale),
#                                JOBS at a time (default 2), then collect and redraw
#
# Set LAUNCHER=joblib to run each sweep's jobs on 2 local workers.
set -uo pipefail
profile=${1:-quick}
case "$profile" in quick|full) ;; fair) shift; exec "$(dirname "$0")/fair.sh" "$@";;
  real) shift; exec "$(dirname "$0")/real.sh" "$@";;
  stale) cd "$(dirname "$0")/.." && make -s setup || exit 1
    fb=.venv/bin/frozen-bench
    "$fb" collect --results-dir results >/dev/null || exit 1  # the stale column, judged at today's HEAD
    "$fb" pending --stale --csv results/all.csv | "$fb" run-lines -j "${JOBS:-2}"; code=$?
    "$fb" collect --results-dir results && "$fb" figures --csv results/all.csv --out results/figures
    exit $code;;
  frontier) echo "scripts/reproduce.sh frontier is retired: it compared a frozen CNN with dense MLPs at unequal steps and no tuning; run scripts/reproduce.sh fair (every family at equal budget, recipe and tuning)" >&2; exit 2;;
  *) echo "usage: scripts/reproduce.sh quick|full|fair [quick|full]|real [quick|full]|stale" >&2; exit 2;; esac
cd "$(dirname "$0")/.."
make -s setup || exit 1
fb=.venv/bin/frozen-bench
launcher=()
[ "${LAUNCHER:-}" = joblib ] && launcher=(hydra/launcher=joblib hydra.launcher.n_jobs=2)

# the synthetic keyword set of the speech sweep (offline: espeak-ng/flite voices), made once
speech_root="${FROZEN_BENCH_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/frozen-bench/data}/speech_commands_synth"
if [ ! -f "$speech_root/testing_list.txt" ]; then
  if command -v espeak-ng >/dev/null || command -v flite >/dev/null; then
    .venv/bin/python scripts/make_synthetic_speech.py --out "$speech_root" --words all --per-word 60 --seed 0 || exit 1
  else
    echo "=== no espeak-ng/flite: the speech sweep will fail (apt-get install espeak-ng flite)"
  fi
fi

# every ablation sweep of the paper, in conf/sweep/ (lr_search is an optuna search, not a figure; the
# fair_* sweeps are the stages of scripts/fair.sh, which gives each its family and budget; speech_why
# is one of scripts/real.sh)
sweeps=$(ls conf/sweep/*.yaml | xargs -n1 basename | sed 's/\.yaml$//' | grep -v -x -e lr_search -e 'fair_.*' -e speech_why)
failed=0
start=$(date +%s)
for s in $sweeps; do
  echo "=== sweep $s (profile $profile) — $(( $(date +%s) - start )) s elapsed"
  "$fb" run -m "+profile=$profile" "+sweep=$s" "${launcher[@]}" results_dir=results || { echo "=== sweep $s had failures (see above)"; failed=1; }
done
"$fb" collect --results-dir results
"$fb" figures --csv results/all.csv --out results/figures
echo "=== reproduce $profile done in $(( $(date +%s) - start )) s (failures: $failed)"
exit $failed

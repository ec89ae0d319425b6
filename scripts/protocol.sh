# The fair protocol's stage helpers, sourced by scripts/fair.sh, scripts/resnets.sh and scripts/twin_width.sh
# (not run by itself). The sourcing script sets: fb (the frozen-bench command), jobs, results (the results
# folder) and, for screen_leaders, py (the python that reads the selection).

# fair_tune's grid, lr 5 x weight decay 2, and the denser lrs a family without a PAct is screened on where
# a family with one is screened at PAct lr x 1.0 (scripts/fair.sh's pact_axis; scripts/twin_width.sh)
lrs=0.001,0.003,0.01,0.03,0.1; wds=0.0,0.05
denser_lrs=0.0005,0.002,0.005,0.02,0.05

# each job on its own line -> frozen-bench run-lines: those without a finished record, $jobs at a time in
# $jobs long-lived workers (no process start per run), one line per finished run and a count at the end
run_lines() { $fb run-lines -j "$jobs" 2>&1 | grep -E "^(\[line [0-9]+\] )?\[frozen-bench\] (ok|diverged|skip|run-lines)|error"; }

# every (dataset, budget, family)'s grid point chosen on validation -> $results/fair/selected.{csv,txt}
select_all() {
  $fb collect --results-dir "$results" >/dev/null
  $fb fair-select --csv "$results/all.csv" --out "$results/fair/selected.csv" --print-overrides \
    > "$results/fair/selected.txt" || exit 1
}

# the tuning screen as run lines: `+sweep=fair_tune` with one grid point's overrides is the very config
# (and signature) that `frozen-bench run -m +sweep=fair_tune ...` gives that point. SCREEN_SEEDS (a comma
# list, default 0) runs every point at each of those seeds; the selection takes their mean validation
# accuracy (one seed orders near-equal points by chance: a re-run of the protocol moved 18 of 37 picks)
grid() {  # grid FAMILIES BUDGETS LRS WDS [EXTRA...] -> one line per point and screen seed
  local fams=$1 budgets=$2 lrs=$3 wds=$4 seeds=${SCREEN_SEEDS:-0} s f b lr wd; shift 4
  for s in ${seeds//,/ }; do
  for f in ${fams//,/ }; do for b in ${budgets//,/ }; do for lr in ${lrs//,/ }; do for wd in ${wds//,/ }; do
    echo "+sweep=fair_tune family=$f model.budget=$b optim.lr=$lr optim.weight_decay=$wd seed=$s $* trainer.threads=1 results_dir=$results"
  done; done; done; done; done
}

# screen_leaders DATASET FROZEN_KINDS -> "family budget" per line, for each budget of DATASET in
# $results/fair/selected.csv: the best family by screen validation among the kinds FROZEN_KINDS (a comma
# list: frozen, control), then the best trained one
screen_leaders() {
  "$py" - "$results/fair/selected.csv" "$1" "$2" <<'EOF'
import sys
import pandas as pd
s = pd.read_csv(sys.argv[1])
s = s[s.dataset == sys.argv[2]]
for budget, b in s.groupby("budget"):
    for kinds in (sys.argv[3].split(","), ["trained"]):
        k = b[b.family_kind.isin(kinds)]
        if len(k):
            print(k.sort_values("best_val_accuracy").iloc[-1].family, int(budget))
EOF
}

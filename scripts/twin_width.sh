#!/usr/bin/env bash
# The frozen transformer against a trained transformer of its own width (issue 25: "the transformer
# twin is matched in width"), resumable like scripts/fair.sh (finished runs are skipped).
#
# The fair table's twin `transformer` has the frozen one's trainable budget, so it is narrow (D 16 at
# 8k, where frozen_transformer is D 243). Here the trained twin takes the frozen transformer's model
# dim and MLP width (the `built` column of its fair_final rows on Fashion-MNIST at budget B), with
# model.heads the largest of 4, 3, 2, 1 that divides the dim, and goes through the same protocol:
#   1. screen  the fair_tune grid (lr 5 x wd 2, seed 0, the 5k-image 5-epoch screen) and, as scripts/fair.sh
#              gives every family without a PAct, 5 more lrs between and below: 20 points, exp twin_width_B_tune
#   2. select  on validation alone: frozen-bench fair-select --exp twin_width_B_tune
#              -> results/fair/twin_width_B.csv (.txt: its overrides); a pick at an end of the lrs
#              screened adds the next lr beyond it (twice at most), which only helps the twin
#   3. final   seeds 0-4 on the frozen transformer's final recipe (quick: 10k images, 5 epochs), exp twin_width
# then `frozen-bench figures --csv results/all.csv` pairs them by seed with the frozen transformer
# (tables.md, "a trained twin of its width"). The twin trains far more parameters than B: it answers
# "at this width", not "at this budget".
#
# Measured on the 2-core host (one thread a run): the 8k width (D 243, H 521, 1.0 M trainable) screens
# in about 65 s a point and trains in about 130 s a final run.
# Usage: scripts/twin_width.sh [BUDGETS]   BUDGETS: a comma list of the frozen transformer's budgets (default 8000)
# JOBS=N runs N at a time (default 2); RESULTS=DIR the results folder; FB=... replaces the frozen-bench
# command (and skips the set-up), PY=... the python that reads all.csv.
set -uo pipefail
budgets=${1:-8000}
cd "$(dirname "$0")/.."
if [ -z "${FB:-}" ]; then make -s setup || exit 1; fi
fb=${FB:-.venv/bin/frozen-bench}
py=${PY:-.venv/bin/python}
jobs=${JOBS:-2}
results=${RESULTS:-results}
start=$(date +%s)
stamp() { echo "=== twin_width: $1 — $(( $(date +%s) - start )) s elapsed"; }
source scripts/protocol.sh  # run_lines, lrs, wds, denser_lrs
mkdir -p "$results/fair"
$fb collect --results-dir "$results" >/dev/null

for b in ${budgets//,/ }; do
  # the frozen transformer's width at this budget, as the trained twin's overrides
  shape=$("$py" - "$results/all.csv" "$b" <<'EOF'
import sys
import pandas as pd
df = pd.read_csv(sys.argv[1], low_memory=False)
f = df[(df.exp == "fair_final") & (df.family == "frozen_transformer") & (df.dataset == "fashion_mnist")
       & (df.budget == float(sys.argv[2])) & (df.status == "ok")]
if f.empty or f.built.isna().all():
    sys.exit(f"twin_width.sh: no finished frozen_transformer fair_final run on fashion_mnist at budget {sys.argv[2]} "
             f"in {sys.argv[1]}; run scripts/fair.sh full fashion_mnist first (its stage 3 trains them)")
shape = dict(kv.split("=") for kv in f.built.dropna().iloc[0].split())
dim, mlp = int(shape["dim"]), int(shape["mlp"])
heads = next(h for h in (4, 3, 2, 1) if dim % h == 0)
print(f"model.budget=null model.dim={dim} model.mlp={mlp} model.heads={heads}")
EOF
) || exit 2
  stamp "budget $b: the trained transformer at the frozen one's width ($shape)"
  stamp "1/3 screen (exp twin_width_${b}_tune)"
  for lr in ${lrs//,/ } ${denser_lrs//,/ }; do for wd in ${wds//,/ }; do
    echo "+sweep=fair_tune family=transformer $shape optim.lr=$lr optim.weight_decay=$wd seed=0 dataset=fashion_mnist exp_name=twin_width_${b}_tune trainer.threads=1 results_dir=$results"
  done; done | run_lines
  stamp "2/3 select on validation"
  # a pick at an end of the lrs screened grows the screen by the grid's next lr beyond it (0.001 -> 0.0003,
  # 0.0005 -> 0.0002, 0.1 -> 0.3; twice at most): the twin is never held back by the grid's edge
  for grow in 0 1 2; do
    $fb collect --results-dir "$results" >/dev/null
    $fb fair-select --exp "twin_width_${b}_tune" --csv "$results/all.csv" --out "$results/fair/twin_width_$b.csv" \
      --print-overrides > "$results/fair/twin_width_$b.txt" || exit 1
    [ "$grow" = 2 ] && break
    next=$("$py" - "$results/fair/twin_width_$b.csv" <<'EOF'
import sys
import pandas as pd
row = pd.read_csv(sys.argv[1]).iloc[0]
edge, lr = (row.lr_edge if isinstance(row.lr_edge, str) else ""), float(row.lr)
one = f"{lr:.0e}".startswith("1")  # the grid's steps: ... 0.001, 0.003, 0.01, 0.03 ...
nxt = {"lowest": lr * 0.3 if one else lr / 3, "highest": lr * 3 if one else lr * 10 / 3}.get(edge)
print(f"{float(f'{nxt:.1g}'):g}" if nxt else "")
EOF
)
    [ -n "$next" ] || break
    stamp "the pick is at the grid's edge: screening lr $next as well"
    for wd in 0.0 0.05; do
      echo "+sweep=fair_tune family=transformer $shape optim.lr=$next optim.weight_decay=$wd seed=0 dataset=fashion_mnist exp_name=twin_width_${b}_tune trainer.threads=1 results_dir=$results"
    done | run_lines
  done
  stamp "3/3 final: 5 seeds (exp twin_width)"
  line=$(head -1 "$results/fair/twin_width_$b.txt")
  for seed in 0 1 2 3 4; do
    echo "+profile=quick +sweep=fair_final $line $shape dataset.subset=10000 trainer.epochs=5 exp_name=twin_width seed=$seed trainer.threads=1 results_dir=$results"
  done | run_lines
done
$fb collect --results-dir "$results" >/dev/null
stamp "done; the table: frozen-bench figures --csv $results/all.csv (tables.md, \"a trained twin of its width\")"

#!/usr/bin/env bash
# The fair comparison (issue 11) as one resumable script: finished runs are skipped by signature,
# so a killed or unfinished run of it continues where it stopped when started again.
#
#   1. tune   every family x budget on one lr x weight-decay grid, at the screen seeds below, no test number computed
#             (conf/sweep/fair_tune.yaml):
#               fashion_mnist  7 families x 8k, 20k x 20 points, a 5k-image 5-epoch screen: lr 5 x wd 2,
#                              then for a family with a PAct the same 10 at PAct lr x 1.0 (0.1 is the
#                              default), for one without, 5 more lrs between and below (x wd 2); at 8k
#                              frozen_cnn and frozen_mlp also at lr 0.3 (they chose the top lr, 0.1);
#                              the 4 frozen_cnn controls at 8k; (full only) frozen_transformer and its
#                              trained twin transformer (7x7 patches) at 8k, 20k, the frozen one also
#                              at lr 0.3 (it chose the top lr, 0.1)
#               digits         the same at 2k and 5k on the whole set, 30 epochs
#               cifar10        frozen_cnn, trained_cnn at 8k, 20k and 100k, linear at 8k and 20k (it has
#                              no 100k form), dense_mlp1 at 20k (the smallest it reaches) and 100k
#                              x 6 points (lr 3 x wd 2), a 5k-image 5-epoch screen; at 8k and 20k the
#                              two CNNs also at PAct lr x 1.0 (12 points)
#               speech         frozen_audio, audio_cnn, its frozen twin frozen_audio_cnn, frozen_cnn, trained_cnn reading the log-mel map
#                              as a 1-channel image, and linear on the log-mel map (pooled to fit), at 20k x 6 points, on the speaker-disjoint split of
#                              the real 12-class test set (SMALL REAL SUBSET), 30 epochs
#   2. select each (dataset, budget, family)'s grid point on validation accuracy alone
#             (frozen-bench fair-select -> results/fair/selected.csv)
#   3. final  each selected configuration with seeds 0-4, the same recipe for every family:
#             quick: 10k Fashion-MNIST training images, 5 epochs; 10k CIFAR-10 images, 10 epochs;
#                    digits and speech: the whole training split, 30 epochs
#             full:  the whole 55k Fashion-MNIST set, 15 epochs, for frozen_cnn, trained_cnn, the 1-layer
#                    dense MLP and each budget's screen-validation leader of either side (a control is a
#                    frozen network: it leads the frozen side when it validates best); the whole 45k
#                    CIFAR-10 set, 15 epochs, every selected family
#   4. small  (fashion_mnist) training-set sizes at 20k trainable (quick: 100, 1k, 10k; full: 100,
#             300, 1k, 3k, 10k): the best frozen and the best trained family of the selection, 5 seeds,
#             the same number of optimizer steps at every size (quick 500; full 3,000)
#   5. design (fashion_mnist) the frozen design space (filter bank, channel mixing, PAct, norm, pooling,
#             head, adapter, kernel size, widths, lr, weight decay) and the trained CNN's own (the same
#             axes less the frozen-only ones) searched with the same number of random trials on the
#             screen recipe (conf/sweep/fair_design.yaml): full 48 at 8k, 24 at 20k; quick 6 at 8k (the
#             full search's first 6: a check of the stage, too few trials to settle a design); each
#             family's best trial by validation (frozen-bench fair-select --design) runs with seeds 0-4
#             on the final recipe
#   6. collect + figures; the fair tables go to results/tables.md
#
# Jobs run two at a time, one thread each (JOBS=N), in long-lived workers (frozen-bench run-lines).
# Screen seeds: Fashion-MNIST and digits screen every grid point at seeds 0 and 1 and select on their mean
# validation accuracy (one seed orders near-equal points by chance); CIFAR-10 and speech at seed 0 alone
# (a CIFAR-10 frozen CNN point is minutes, a speech one up to 16 core-minutes). SCREEN_SEEDS=0,1,2 (a comma
# list) sets the seeds of every dataset.
# Measured wall time on 2 cores from nothing: see results/README.md (Method, "Compute").
# FB=... replaces the frozen-bench command (and skips the set-up); RESULTS=DIR the results folder.
# Usage: scripts/fair.sh [quick|full] [DATASETS]   DATASETS: a comma list of fashion_mnist, digits,
#        cifar10, speech (default: all four; a dataset whose data is absent stops with its error)
set -uo pipefail
profile=${1:-quick}
sets=${2:-fashion_mnist,digits,cifar10,speech}
usage="usage: scripts/fair.sh quick|full [fashion_mnist,digits,cifar10,speech]"
case "$profile" in quick|full) ;; *) echo "$usage" >&2; exit 2;; esac
for d in ${sets//,/ }; do
  case "$d" in fashion_mnist|digits|cifar10|speech) ;; *) echo "fair.sh: unknown dataset '$d'; $usage" >&2; exit 2;; esac
done
want() { [[ ",$sets," == *",$1,"* ]]; }
cd "$(dirname "$0")/.."
if [ -z "${FB:-}" ]; then make -s setup || exit 1; fi
fb=${FB:-.venv/bin/frozen-bench}
py=.venv/bin/python
jobs=${JOBS:-2}
results=${RESULTS:-results}
start=$(date +%s)
stamp() { echo "=== fair $profile: $1 — $(( $(date +%s) - start )) s elapsed"; }
par=(hydra/launcher=joblib "hydra.launcher.n_jobs=$jobs" trainer.threads=1 "results_dir=$results")
mkdir -p "$results/fair"

digits=(dataset=digits dataset.image=true dataset.subset=null trainer.epochs=30)
speech=(dataset=speech_commands_test12 dataset.subset=null trainer.epochs=30)
case "$profile" in
  quick) fmnist_final=(dataset.subset=10000 trainer.epochs=5); cifar_final=(dataset.subset=10000 trainer.epochs=10)
         small_steps=500; small_sizes="100 1000 10000"; design_search="8000:6" ;;
  full)  fmnist_final=(dataset.subset=null trainer.epochs=15); cifar_final=(dataset.subset=null trainer.epochs=15)
         small_steps=3000; small_sizes="100 300 1000 3000 10000"; design_search="8000:48 20000:24" ;;
esac

source scripts/protocol.sh  # run_lines, select_all, grid, screen_leaders, lrs, wds, denser_lrs
seven=frozen_cnn,frozen_mlp,trained_cnn,separable_cnn,dense_mlp1,dense_mlp2,linear
controls=frozen_cnn_random_filters,frozen_cnn_identity_mix,frozen_cnn_relu,frozen_cnn_probe
# the PAct lr multiplier is a tuned axis (its default is 0.1): each family with a PAct is screened at 1.0 as
# well, and each family without one gets as many more points on a denser lr grid (protocol.sh's lrs, wds,
# denser_lrs), so every family of a (dataset, budget) is screened at the same number of points (20)
pact_families=frozen_cnn,frozen_mlp,trained_cnn,separable_cnn,frozen_cnn_random_filters,frozen_cnn_identity_mix,frozen_transformer
pact_axis() {  # pact_axis FAMILIES BUDGETS [EXTRA...]: the second 10 points of each family
  local with=() without=() f; local fams=$1 budgets=$2; shift 2
  for f in ${fams//,/ }; do
    if [[ ",$pact_families," == *",$f,"* ]]; then with+=("$f"); else without+=("$f"); fi
  done
  [ ${#with[@]} -gt 0 ] && grid "$(IFS=,; echo "${with[*]}")" "$budgets" $lrs $wds "$@" optim.act_lr_mult=1.0
  [ ${#without[@]} -gt 0 ] && grid "$(IFS=,; echo "${without[*]}")" "$budgets" $denser_lrs $wds "$@"
  return 0
}
short=(0.003,0.01,0.03 0.0,0.05)              # 3 x 2: the larger sets' grid
two_seeds=${SCREEN_SEEDS:-0,1} one_seed=${SCREEN_SEEDS:-0}  # grid (protocol.sh) reads SCREEN_SEEDS
stamp "1/6 tune: $(echo "$sets" | tr , ' ')"
{
  if want fashion_mnist; then  # 7 families x 8k, 20k; the 4 controls at 8k; (full) the transformer twins
    SCREEN_SEEDS=$two_seeds
    grid $seven 8000,20000 $lrs $wds
    grid $controls 8000 $lrs $wds
    pact_axis "$seven" 8000,20000
    pact_axis "$controls" 8000
    # frozen_cnn and frozen_mlp at 8k then chose lr 0.1, the grid's top (at PAct lr x 1.0), so their grid
    # grows by lr 0.3 at both multipliers (24 points)
    grid frozen_cnn,frozen_mlp 8000 0.3 $wds
    grid frozen_cnn,frozen_mlp 8000 0.3 $wds optim.act_lr_mult=1.0
    # the transformer pair (an extra beyond the issue's families) is 60% of the quick profile's
    # training time at 20k (the frozen one is 600 wide): the full profile only
    if [ "$profile" = full ]; then
      grid frozen_transformer,transformer 8000,20000 $lrs $wds
      pact_axis frozen_transformer,transformer 8000,20000
      # frozen_transformer then chose lr 0.1, the grid's top, at both budgets: its grid grows by lr 0.3
      grid frozen_transformer 8000,20000 0.3 $wds
      grid frozen_transformer 8000,20000 0.3 $wds optim.act_lr_mult=1.0
    fi
  fi
  if want digits; then
    SCREEN_SEEDS=$two_seeds
    grid $seven 2000,5000 $lrs $wds "${digits[@]}"
    grid $controls 2000 $lrs $wds "${digits[@]}"
    pact_axis "$seven" 2000,5000 "${digits[@]}"
    pact_axis "$controls" 2000 "${digits[@]}"
  fi
  if want cifar10; then
    SCREEN_SEEDS=$one_seed
    grid frozen_cnn,trained_cnn,linear 8000,20000 "${short[@]}" dataset=cifar10
    # the PAct lr multiplier, a tuned axis of every family with a PAct: both CNNs at 1.0 as well (the
    # default is 0.1); linear, a floor with no PAct, is not a contender and keeps its 6 points
    grid frozen_cnn,trained_cnn 8000,20000 "${short[@]}" dataset=cifar10 optim.act_lr_mult=1.0
    # frozen_cnn at 8k then chose the grid's top lr (0.03), so its grid grew by lr 0.1 (it kept 0.03)
    grid frozen_cnn 8000 0.1 0.0,0.05 dataset=cifar10
    grid frozen_cnn 8000 0.1 0.0,0.05 dataset=cifar10 optim.act_lr_mult=1.0
    grid frozen_cnn,trained_cnn,dense_mlp1 100000 "${short[@]}" dataset=cifar10
    grid dense_mlp1 20000 "${short[@]}" dataset=cifar10
  fi
  if want speech; then  # speech_commands_test12: a SMALL REAL SUBSET
    SCREEN_SEEDS=$one_seed
    grid frozen_audio,audio_cnn,frozen_audio_cnn,frozen_cnn,trained_cnn,linear 20000 "${short[@]}" "${speech[@]}"
  fi
} | run_lines

stamp "2/6 select on validation"
select_all

stamp "3/6 final: $(wc -l < "$results/fair/selected.txt") configurations x 5 seeds"
# Fashion-MNIST's leaders by screen validation, "family budget" per line: the full profile trains them on
# the whole set beside frozen_cnn, trained_cnn and dense_mlp1
fmnist_leaders=$(want fashion_mnist && screen_leaders fashion_mnist frozen,control)  # a control is a frozen network
twin_recipe=(dataset.subset=10000 trainer.epochs=5)  # the transformer pair's final recipe in either profile
while read -r line; do
  recipe=$profile
  case "$line" in
    *dataset=digits*) want digits || continue
       [ "$profile" = full ] && continue  # digits has one size: quick covers it
       extra=("${digits[@]}") ;;
    *dataset=cifar10*) want cifar10 || continue; extra=("${cifar_final[@]}") ;;
    *dataset=speech_commands_test12*) want speech || continue; extra=("${speech[@]}") ;;
    *dataset=fashion_mnist*) want fashion_mnist || continue
       extra=("${fmnist_final[@]}")
       if [[ "$line" =~ \+family=(frozen_transformer|transformer)\  ]]; then
         # screened and trained by the full profile only, on the quick recipe (a 600-wide
         # frozen transformer takes 2 min a run there, about half an hour on the whole set)
         [ "$profile" = full ] || continue
         recipe=quick; extra=("${twin_recipe[@]}")
       # the full profile trains the whole set: the two CNNs, the dense reference, each side's leader
       elif [ "$profile" = full ] && ! [[ "$line" =~ \+family=(frozen_cnn|trained_cnn|dense_mlp1)\  ]] \
            && ! grep -qxF -- "$(sed -E 's/^\+family=(\S+) model\.budget=([0-9]+) .*/\1 \2/' <<< "$line")" <<< "$fmnist_leaders"
       then continue; fi ;;
    *) continue ;;
  esac
  for seed in 0 1 2 3 4; do
    echo "+profile=$recipe +sweep=fair_final $line ${extra[*]} seed=$seed trainer.threads=1 results_dir=$results"
  done
done < "$results/fair/selected.txt" | run_lines

want fashion_mnist && {
stamp "4/6 small data: sizes $small_sizes at 20k trainable, $small_steps steps each"
# the best frozen and the best trained family at 20k by screen validation (controls are not a kind here)
fams=$(screen_leaders fashion_mnist frozen | awk '$2 == 20000 {print $1}')
# interleaved (size, seed, family), so that a stopped run leaves comparable pairs behind
for n in $small_sizes; do for seed in 0 1 2 3 4; do for fam in $fams; do
  line=$(grep -- "+family=$fam model.budget=20000 .*dataset=fashion_mnist" "$results/fair/selected.txt")
  echo "+profile=$profile +sweep=fair_final exp_name=fair_small $line dataset.subset=$n trainer.epochs=100000 trainer.max_steps=$small_steps trainer.eval_every=100000 seed=$seed trainer.threads=1 results_dir=$results"
done; done; done | run_lines
}

want fashion_mnist && {
stamp "5/6 design search: frozen_cnn and trained_cnn, budget:trials $design_search, then 5 seeds of each winner"
# fair_design_frozen: the shared space plus the frozen-only axes, the same number of trials; the seeded
# sampler draws the same first trials whatever n_trials is, so quick's 6 are the full search's first 6
for spec in $design_search; do  # budget:trials, the same number for both families
  b=${spec%:*} trials=${spec#*:}
  "$fb" run -m +sweep=fair_design +family=trained_cnn model.budget=$b dataset=fashion_mnist "${par[@]}" \
    hydra.sweeper.n_jobs=$jobs hydra.sweeper.n_trials=$trials
  "$fb" run -m +sweep=fair_design_frozen +family=frozen_cnn model.budget=$b dataset=fashion_mnist "${par[@]}" \
    hydra.sweeper.n_jobs=$jobs hydra.sweeper.n_trials=$trials
done 2>&1 | grep -E "^\[frozen-bench\] sweep:|error"
"$fb" collect --results-dir "$results" >/dev/null
"$fb" fair-select --design --csv "$results/all.csv" --out "$results/fair/design_selected.csv" --print-overrides \
  > "$results/fair/design_selected.txt" || exit 1
while read -r line; do
  [[ "$line" == *dataset=fashion_mnist* ]] || continue
  for seed in 0 1 2 3 4; do
    echo "+profile=$profile +sweep=fair_final exp_name=fair_design $line ${fmnist_final[*]} seed=$seed trainer.threads=1 results_dir=$results"
  done
done < "$results/fair/design_selected.txt" | run_lines
}

stamp "6/6 collect + figures"
"$fb" collect --results-dir "$results"
"$fb" figures --csv "$results/all.csv" --out "$results/figures"
stamp "done"

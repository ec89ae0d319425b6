#!/usr/bin/env bash
# The frozen ResNets (issue 25) in the fair protocol, as one resumable script: finished runs are skipped
# by signature, so a stopped run of it continues where it stopped when started again.
#
#   1. tune   frozen_resnet and trained_resnet at 8k trainable, the fair protocol's screen (conf/sweep/
#             fair_tune.yaml: 5k training images, 5 epochs, batch 128, seed 0, no test number) on the
#             larger sets' grid, lr {0.003, 0.01, 0.03} x weight decay {0, 0.05}, plus lr 0.1: on that grid
#             both ResNet families chose its top lr, 0.03 (a grid-edge pick), so the grid grows upward
#             for both alike; CIFAR-10 (JPEG copy) and Fashion-MNIST. Then 8 more points for each, so the
#             two get the same number: frozen_resnet's PAct lr multiplier at 1.0 as well as the default 0.1
#             (a tuned axis of every family with a PAct), trained_resnet (ReLU, no PAct) a denser lr grid,
#             lr {0.005, 0.02, 0.05, 0.2}: 16 points each
#   2. select each (dataset, budget, family)'s point on validation accuracy alone (fair-select; every
#             family of results/all.csv, the earlier ones unchanged)
#   3. final  the selected point with seeds 0-4 on the quick fair recipe: CIFAR-10 10k images, 10 epochs;
#             Fashion-MNIST 10k images, 5 epochs (the recipe of every other family's quick final)
#   4. depth  bn_only_resnet (the literature's form) at depths 8, 20, 32, 56 on the screen recipe, one
#             seed, lr 0.01: the paper's depth trend (accuracy grows with depth at width 16), checked
#   5. anchor bn_only_resnet sized to 8k (depth 98) on the screen recipe, lr 0.01, one seed: the
#             literature's 8k network where this machine can afford it
#   epochs    the CIFAR-10 8k leaders of each kind (frozen_resnet, frozen_cnn, trained_resnet, trained_cnn) at
#             their selected point, seed 0, on the quick recipe's 10k images for 20 epochs instead of 10,
#             validated every epoch (exp fair_epochs): what doubling the training buys each kind
#   design    the design search on CIFAR-10 at 8k, frozen and trained alike (conf/sweep/fair_design*.yaml, the
#             screen recipe): frozen_resnet (width, conv, filter bank, mixing, adapter, PAct, PAct lr x,
#             pooling, lr, weight decay), trained_resnet (depth, PAct, PAct lr x, pooling, lr, weight
#             decay; sized with model.fine_sizing), frozen_cnn and trained_cnn (their fair_design spaces and the PAct
#             lr x), DESIGN_TRIALS random trials each (default 16: a frozen ResNet trial is 2-18 minutes on one
#             core); each family's best trial by validation (fair-select --design) then runs with seeds 0-4 on the
#             quick recipe, checkpointed every epoch
#   design_epochs  the design search's CIFAR-10 winners (results/fair/design_selected.txt, from the design
#             stage), seed 0 (EPOCH_SEEDS=0,1,2: those seeds), on the quick recipe's 10k images for 20 epochs
#             instead of 10, validated every epoch and checkpointed every epoch (exp fair_design_epochs): the
#             epochs stage at the designs that lead
#   speech    frozen_audio_cnn, the frozen twin of audio_cnn, and linear (the log-mel map pooled to fit) at 20k on
#             the real 12-class speech split: the lines scripts/fair.sh speech gives them (screen on its grid,
#             select, 5 seeds, 30 epochs)
#
# Jobs run JOBS at a time (default 2), one thread each, in long-lived workers (frozen-bench run-lines).
# Usage: scripts/resnets.sh [STAGES]   STAGES: a comma list of cifar10,fashion_mnist,depth,anchor,epochs,design,
#   design_epochs,speech (default all)
# FB=... replaces the frozen-bench command (e.g. one running a fixed commit's code); RESULTS=DIR the folder.
set -uo pipefail
all_stages=cifar10,fashion_mnist,depth,anchor,epochs,design,design_epochs,speech
stages=${1:-$all_stages}
want() { [[ ",$stages," == *",$1,"* ]]; }
for s in ${stages//,/ }; do
  [[ ",$all_stages," == *",$s,"* ]] || { echo "resnets.sh: unknown stage '$s'; the stages are $all_stages" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
if [ -z "${FB:-}" ]; then make -s setup || exit 1; fi
fb=${FB:-.venv/bin/frozen-bench}
jobs=${JOBS:-2}
results=${RESULTS:-results}
EPOCH_SEEDS=${EPOCH_SEEDS:-0}
start=$(date +%s)
stamp() { echo "=== resnets: $1 — $(( $(date +%s) - start )) s elapsed"; }
source scripts/protocol.sh  # run_lines, select_all, grid
cifar=(dataset=cifar10 dataset.source=imagefolder)
fmnist=(dataset=fashion_mnist)
mkdir -p "$results/fair"

stamp "1/5 tune at 8k"
for d in cifar10 fashion_mnist; do
  want "$d" || continue
  [ "$d" = cifar10 ] && data=("${cifar[@]}") || data=("${fmnist[@]}")
  grid frozen_resnet,trained_resnet 8000 0.003,0.01,0.03,0.1 0.0,0.05 "${data[@]}"
  grid frozen_resnet 8000 0.003,0.01,0.03,0.1 0.0,0.05 optim.act_lr_mult=1.0 "${data[@]}"
  grid trained_resnet 8000 0.005,0.02,0.05,0.2 0.0,0.05 "${data[@]}"
done | run_lines

stamp "2/5 select on validation"
select_all

stamp "3/5 final: 5 seeds of each selected ResNet"
while read -r line; do
  [[ "$line" =~ \+family=(frozen_resnet|trained_resnet|bn_only_resnet)\  ]] || continue
  case "$line" in
    *dataset=cifar10*) want cifar10 || continue; recipe=(dataset.subset=10000 trainer.epochs=10) ;;
    *dataset=fashion_mnist*) want fashion_mnist || continue; recipe=(dataset.subset=10000 trainer.epochs=5) ;;
    *) continue ;;
  esac
  for seed in 0 1 2 3 4; do
    echo "+profile=quick +sweep=fair_final $line ${recipe[*]} seed=$seed trainer.threads=1 results_dir=$results"
  done
done < "$results/fair/selected.txt" | run_lines

if want depth; then
  stamp "4/5 bn_only_resnet depth trend (screen recipe, seed 0)"
  for depth in 8 20 32 56; do
    echo "+family=bn_only_resnet exp_name=bn_only_depth model.depth=$depth ${cifar[*]} dataset.subset=5000 trainer.epochs=5 trainer.batch_size=128 trainer.eval_every=1 trainer.latency_reps=0 optim.lr=0.01 optim.weight_decay=0.0 seed=0 trainer.threads=1 results_dir=$results"
  done | run_lines
fi

if want anchor; then
  stamp "5/5 bn_only_resnet at 8k (screen recipe, seed 0)"
  echo "+family=bn_only_resnet exp_name=bn_only_depth model.budget=8000 ${cifar[*]} dataset.subset=5000 trainer.epochs=5 trainer.batch_size=128 trainer.eval_every=1 trainer.latency_reps=0 optim.lr=0.01 optim.weight_decay=0.0 seed=0 trainer.threads=1 results_dir=$results" | run_lines
fi

if want epochs; then
  stamp "epochs: the CIFAR-10 8k leaders for 20 epochs (seed 0)"
  for f in frozen_resnet trained_resnet frozen_cnn trained_cnn; do
    grep -- "+family=$f model.budget=8000 .*dataset=cifar10" "$results/fair/selected.txt" | while read -r line; do
      echo "+profile=quick +sweep=fair_final exp_name=fair_epochs $line dataset.subset=10000 trainer.epochs=20 trainer.eval_every=1 seed=0 trainer.threads=1 results_dir=$results"
    done
  done | run_lines
fi

if want design; then
  trials=${DESIGN_TRIALS:-16}
  stamp "design: CIFAR-10 at 8k, $trials trials each of trained_cnn, frozen_cnn, trained_resnet, frozen_resnet"
  par=(hydra/launcher=joblib "hydra.launcher.n_jobs=$jobs" hydra.sweeper.n_jobs=$jobs hydra.sweeper.n_trials=$trials
       trainer.threads=1 "results_dir=$results" model.budget=8000 "${cifar[@]}")
  # the CNN families' spaces are the ones their Fashion-MNIST search ran, plus the PAct lr multiplier that the
  # ResNets' space holds (a sweep override on the command line is one more axis of the Optuna space)
  for pair in fair_design:trained_cnn fair_design_frozen:frozen_cnn; do
    $fb run -m "+sweep=${pair%%:*}" "+family=${pair##*:}" "${par[@]}" "optim.act_lr_mult=choice(0.1,1.0)"
  done 2>&1 | grep -E "^\[frozen-bench\] sweep:|error"
  for pair in fair_design_trained_resnet:trained_resnet fair_design_frozen_resnet:frozen_resnet; do
    $fb run -m "+sweep=${pair%%:*}" "+family=${pair##*:}" "${par[@]}"
  done 2>&1 | grep -E "^\[frozen-bench\] sweep:|error"
  $fb collect --results-dir "$results" >/dev/null
  $fb fair-select --design --csv "$results/all.csv" --out "$results/fair/design_selected.csv" --print-overrides \
    > "$results/fair/design_selected.txt" || exit 1
  grep -- "dataset=cifar10" "$results/fair/design_selected.txt" | while read -r line; do
    for seed in 0 1 2 3 4; do
      # checkpointed every epoch (79 steps): a wide frozen ResNet's final is about an hour of one core, and a
      # stopped one resumes where it stood (trainer.checkpoint_every is not part of the run's signature)
      echo "+profile=quick +sweep=fair_final exp_name=fair_design $line dataset.subset=10000 trainer.epochs=10 seed=$seed trainer.threads=1 trainer.checkpoint_every=79 results_dir=$results"
    done
  done | run_lines
fi

if want design_epochs; then
  stamp "design_epochs: the CIFAR-10 design winners for 20 epochs (seeds $EPOCH_SEEDS)"
  [ -f "$results/fair/design_selected.txt" ] || { echo "resnets.sh: $results/fair/design_selected.txt is missing; run the design stage first" >&2; exit 2; }
  for seed in ${EPOCH_SEEDS//,/ }; do
    grep -- "dataset=cifar10" "$results/fair/design_selected.txt" | while read -r line; do
      echo "+profile=quick +sweep=fair_final exp_name=fair_design_epochs $line dataset.subset=10000 trainer.epochs=20 trainer.eval_every=1 seed=$seed trainer.threads=1 trainer.checkpoint_every=79 results_dir=$results"
    done
  done | run_lines
fi

if want speech; then
  stamp "speech: frozen_audio_cnn and linear at 20k (fair.sh's speech lines)"
  speech=(dataset=speech_commands_test12 dataset.subset=null trainer.epochs=30)
  grid frozen_audio_cnn,linear 20000 0.003,0.01,0.03 0.0,0.05 "${speech[@]}" | run_lines
  select_all
  grep -E -- "\+family=(frozen_audio_cnn|linear) .*dataset=speech_commands_test12" "$results/fair/selected.txt" | while read -r line; do
    for seed in 0 1 2 3 4; do
      echo "+profile=quick +sweep=fair_final $line ${speech[*]} seed=$seed trainer.threads=1 results_dir=$results"
    done
  done | run_lines
fi

$fb collect --results-dir "$results" >/dev/null
stamp "done"

#!/usr/bin/env bash
# Trains the four-class ensemble that held up best under a change of source
# (issue 13; docs/transfer.md, results.md): the robust CNN trained on Br35H
# without any four-class image, then, for each seed, configs/four_class_robust.toml
# (started from it) and configs/four_class_robust_extra.toml (also trained on
# Br35H's images with coarse labels), and scores the average of all of them with
# `cerebra eval`. About 20 minutes with three seeds on a 2-core machine.
#
#   tools/train-robust.sh [--source-held-out] [--seeds "42 7 13"] [--build DIR] [--out DIR] [-- --set ...]
#
#   --source-held-out  train and test on the source-held-out split (hold_out = "source",
#                      8 source clusters; docs/data.md): the proxy for a new scanner
#   --seeds LIST       training seeds (the split stays at seed 42); default "42 7 13"
#   --out DIR          where the runs go; default runs/robust-<date>-<time>
#   -- ARGS            passed to every `cerebra run` (e.g. --set training.epochs=2)
#
# Prints each run's test line and the ensemble's figures; DIR/members.txt lists
# the members, so `cerebra eval $(cat DIR/members.txt)` scores them again.
set -euo pipefail
build=build
seeds="42 7 13"
holdout=()
out="runs/robust-$(date +%Y%m%d-%H%M%S)"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --source-held-out) holdout=(--set split.hold_out=source --set split.source_clusters=8); shift ;;
    --seeds) seeds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "train-robust.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cerebra="$build/bin/cerebra"
[[ -x "$cerebra" ]] || { echo "train-robust.sh: $cerebra not found; build first (tools/build.sh)" >&2; exit 1; }
configs="$(cd "$(dirname "${BASH_SOURCE[0]}")/../configs" && pwd)"
mkdir -p "$out"

# The newest run directory `cerebra run` made under $1 for run name $2.
newest_run() { ls -d "$1/$2"-* 2>/dev/null | sort | tail -1; }

echo "== pretraining on Br35H (no four-class image): $out/pretrained"
"$cerebra" run "$configs/pretrain_br35h_robust_cnn.toml" --set run.output="$out/pretrained" ${extra[@]+"${extra[@]}"}
weights="$(newest_run "$out/pretrained" pretrain_br35h_robust_cnn)"
[[ -n "$weights" ]] || { echo "train-robust.sh: the pretraining left no run in $out/pretrained" >&2; exit 1; }

members=()
for seed in $seeds; do
  for config in four_class_robust four_class_robust_extra; do
    echo "== $config, seed $seed"
    "$cerebra" run "$configs/$config.toml" --set run.output="$out" --set run.name="${config}_s$seed" \
      --set run.seed="$seed" --set split.seed=42 --set transfer.weights="$weights" \
      ${holdout[@]+"${holdout[@]}"} ${extra[@]+"${extra[@]}"}
    members+=("$(newest_run "$out" "${config}_s$seed")")
  done
done
printf '%s\n' "${members[@]}" > "$out/members.txt"
echo "== ensemble of ${#members[@]} runs (mean probability; members in $out/members.txt)"
"$cerebra" eval "${members[@]}"

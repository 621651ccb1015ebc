#!/usr/bin/env bash
# End-to-end training speed of two Cerebra checkouts on this machine, measured
# in the same run: did a change slow training down? Each checkout runs its own
# build and its own tools/bench-train/br35h_cnn_e2e.toml (the pipeline format
# may differ between them); rounds alternate and medians are compared.
# Usage (on a quiet machine, both checkouts built with tools/build.sh):
#   tools/bench-train/compare-builds.sh BEFORE_CHECKOUT AFTER_CHECKOUT [DATA_DIR] [ROUNDS]
set -euo pipefail
before="$(cd "$1" && pwd)"
after="$(cd "$2" && pwd)"
data="$(cd "${3:-${CEREBRA_DATA:-../shared/datasets}}" && pwd)"
rounds="${4:-3}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/quiet-machine.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="$work/figures.txt"

run_one() {  # label checkout round
  local label=$1 checkout=$2 round=$3
  (cd "$checkout" && env CEREBRA_DATA="$data" build/bin/cerebra run tools/bench-train/br35h_cnn_e2e.toml \
    --set run.output="$work/$label-$round" --set run.threads=2 >"$work/$label-$round.log" 2>&1)
  /usr/bin/python3 - "$work/$label-$round" "$label" <<'PY' | tee -a "$out"
import glob, json, sys
run = glob.glob(sys.argv[1] + "/*/")[0]
lines = [json.loads(l) for l in open(run + "metrics.jsonl")]
rates = [l["images_per_second"] for l in lines]
losses = " ".join(f"{l['train_loss']:.6f}" for l in lines)
print(f"{sys.argv[2]} train_images_per_s={sum(rates) / len(rates):.1f} train_losses={losses}")
PY
}

echo "== end to end: Br35H CNN, 5 epochs, 2 threads, $rounds alternating rounds ($(date -u +%F), $(nproc) cores)"
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then run_one before "$before" "$round"; run_one after "$after" "$round"
  else run_one after "$after" "$round"; run_one before "$before" "$round"; fi
done
/usr/bin/python3 - "$out" <<'PY'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
def rates(label):
    return [float(re.search(r"train_images_per_s=([\d.]+)", r).group(1)) for r in rows if r.startswith(label + " ")]
def losses(label):
    return {re.search(r"train_losses=(.*)", r).group(1) for r in rows if r.startswith(label + " ")}
b, a = statistics.median(rates("before")), statistics.median(rates("after"))
print(f"median images/s: before {b:.1f}, after {a:.1f}, after/before {a / b:.3f}")
print("same training losses in every run:", losses("before") == losses("after") and len(losses("after")) == 1)
PY

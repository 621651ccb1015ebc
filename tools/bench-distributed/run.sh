#!/usr/bin/env bash
# Issue 15's done-when check, repeatable: for each seed, configs/quickstart.toml
# in one process (default threads), in one process with one thread, and with
# --nproc 2 (one thread each), taking turns so drift hits all three alike.
# Prints each seed's test accuracy, the paired differences and the median time
# per training step. Usage (repository root, after a build):
#   tools/bench-distributed/run.sh [BUILD_DIR]   (SEEDS="42 1 2" by default 42 and 1-9;
#                                                  EXTRA="--set run.precision=bf16")
# Refuses to run while a compiler is busy on this machine: timings would be noise.
set -euo pipefail
build="${1:-build}"
seeds="${SEEDS:-42 1 2 3 4 5 6 7 8 9}"
extra="${EXTRA:-}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/quiet-machine.sh"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
run() {  # run SETUP SEED ARGS...: one run, its directory recorded under SETUP
  local setup="$1" seed="$2"
  shift 2
  # shellcheck disable=SC2086
  "$build/bin/cerebra" run configs/quickstart.toml --set run.seed="$seed" "$@" $extra \
    --set run.output="$out/runs" >"$out/$setup-$seed.log" 2>&1 ||
    { echo "run failed: $setup seed $seed (log below)" >&2; cat "$out/$setup-$seed.log" >&2; exit 1; }
  sed -n 's/^run directory: //p' "$out/$setup-$seed.log" | tail -1 >"$out/$setup-$seed.dir"
}
for seed in $seeds; do
  echo "== seed $seed"
  run one "$seed"
  run one_thread "$seed" --set run.threads=1
  run two "$seed" --nproc 2
done
/usr/bin/python3 - "$out" "$seeds" <<'PY'
import json, math, pathlib, statistics, sys
out, seeds = pathlib.Path(sys.argv[1]), sys.argv[2].split()
setups = {"one": "1 process, default threads", "one_thread": "1 process, 1 thread", "two": "2 processes, 1 thread each"}
def figures(setup, seed):
    run = pathlib.Path((out / f"{setup}-{seed}.dir").read_text().strip())
    summary = json.loads((run / "summary.json").read_text())
    accuracy = summary["test"]["metrics"]["accuracy"]["value"]
    epochs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    steps = math.ceil(summary["split"]["train"] / 32)  # configs/quickstart.toml's global batch
    times = [e["train_seconds"] / steps * 1000 for e in epochs[1:]]
    return accuracy, statistics.median(times), summary.get("precision", "?")
table = {s: {seed: figures(s, seed) for seed in seeds} for s in setups}
print(f"precision: {table['one'][seeds[0]][2]}")
print("| run seed | " + " | ".join(setups.values()) + " | 2 proc. - 1 proc. (points) | 2 proc. - 1 proc. 1 thr. |")
print("| --- |" + " ---: |" * 5)
diffs, diffs1 = [], []
for seed in seeds:
    a = [table[s][seed][0] for s in setups]
    diffs.append((a[2] - a[0]) * 100); diffs1.append((a[2] - a[1]) * 100)
    print(f"| {seed} | " + " | ".join(f"{v:.4f}" for v in a) + f" | {diffs[-1]:+.2f} | {diffs1[-1]:+.2f} |")
means = [statistics.mean(table[s][seed][0] for seed in seeds) for s in setups]
sd = lambda d: statistics.stdev(d) if len(d) > 1 else float("nan")
print("| mean | " + " | ".join(f"{m:.4f}" for m in means) +
      f" | {statistics.mean(diffs):+.2f} (sd {sd(diffs):.2f}) | {statistics.mean(diffs1):+.2f} (sd {sd(diffs1):.2f}) |")
within = sum(abs(d) <= 1.0 + 1e-9 for d in diffs)
print(f"within 1 point of one process: {within} of {len(diffs)} seeds; largest {max(diffs, key=abs):+.2f}")
for s, name in setups.items():
    times = [table[s][seed][1] for seed in seeds]
    print(f"time per step, {name}: median {statistics.median(times):.1f} ms (range {min(times):.1f}-{max(times):.1f})")
PY

#!/usr/bin/env bash
# Cerebra's bucketed all-reduce against c10d::Reducer (cerebra-bench-reducer),
# two ranks on loopback with one thread each, for the CNN and ResNet50.
# Usage (repository root, after a build): tools/bench-distributed/reducer.sh [BUILD_DIR]
# Refuses to run while a compiler is busy on this machine: timings would be noise.
set -euo pipefail
build="${1:-build}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/quiet-machine.sh"
port=$((29600 + RANDOM % 300))
# The Reducer warns once per rank that the gradients of 1x1 convolutions in
# channels-last do not match its bucket views' strides (it copies them).
noise='Grad strides do not match\|^grad.sizes\|^bucket_view.sizes\|Logging before InitGoogleLogging'

bench() {  # bench ARGS...: one measurement, two ranks
  port=$((port + 2))
  local pids=()
  for rank in 0 1; do
    RANK=$rank WORLD_SIZE=2 LOCAL_RANK=$rank MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$build/bin/cerebra-bench-reducer" --threads 1 "$@" 2> >(grep -v "$noise" >&2) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}
echo "date=$(date -u +%FT%TZ) cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" cores=$(nproc)"
bench --model cnn --size 64 --batch 16 --steps 30 --rounds 5
bench --model resnet50 --size 64 --batch 8 --steps 5 --rounds 3

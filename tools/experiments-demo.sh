#!/usr/bin/env bash
# The study tools end to end on the built-in synthetic data, as
# docs/experiments.md shows them: a 5-fold run of the quickstart, a small
# sweep with pruning, the run store, a registered model predicted through
# models:/, and exports loaded by Python. Run it after tools/build.sh (or
# tools/test.sh, which also installs Debian's python3-torch). It writes
# runs/ and demo/ in the checkout; remove them to start again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cerebra="${CEREBRA_BUILD_DIR:-build}/bin/cerebra"
python=/usr/bin/python3   # Debian's, where python3-torch installs torch
mkdir -p demo
say() { echo "\$ $*"; }

say cerebra kfold configs/quickstart.toml
"$cerebra" kfold configs/quickstart.toml 2>&1 | grep -v "^epoch"
say cerebra sweep configs/sweeps/quickstart.toml
"$cerebra" sweep configs/sweeps/quickstart.toml 2>&1 | grep "^sweep\|^rank\|^[0-9]\|^best"
say cerebra runs list
"$cerebra" runs list

# The sweep's winner: the trial its ranked table puts first.
best="$(awk '$1 == "1" { print $2 }' runs/quickstart-sweep/sweep_results.txt)"
best="$(ls -d runs/quickstart-sweep/"$best"-*)"
say cerebra models register "$best" --name quickstart-detector
"$cerebra" models register "$best" --name quickstart-detector
say cerebra models stage quickstart-detector 1 production
"$cerebra" models stage quickstart-detector 1 production

# demo/scan.pgm: a 64x64 slice drawn here, a bright disc on a dim ellipse.
"$python" - <<'PY'
pixels = bytearray()
for y in range(64):
    for x in range(64):
        value = 70 if ((x - 32) / 26) ** 2 + ((y - 32) / 30) ** 2 <= 1 else 0
        pixels.append(200 if (x - 40) ** 2 + (y - 26) ** 2 <= 36 else value)
open("demo/scan.pgm", "wb").write(b"P5 64 64 255\n" + bytes(pixels))
PY
say cerebra predict models:/quickstart-detector/production demo/scan.pgm
"$cerebra" predict models:/quickstart-detector/production demo/scan.pgm

for format in torchscript pth; do
  say cerebra export "$best" --format "$format" --out "demo/quickstart.$format"
  "$cerebra" export "$best" --format "$format" --out "demo/quickstart.$format"
done
say "$python" "(torch $("$python" -c 'import torch; print(torch.__version__)'))"
"$python" - <<'PY'
import torch
model = torch.jit.load("demo/quickstart.torchscript")
print(">>> torch.jit.load(...)(torch.zeros(1, 3, 64, 64))")
print([round(v, 4) for v in model(torch.zeros(1, 3, 64, 64)).detach()[0].tolist()])
state = torch.load("demo/quickstart.pth", weights_only=True)
print(">>> torch.load('demo/quickstart.pth', weights_only=True)")
print(len(state), "tensors:", ", ".join(f"{k} {tuple(v.shape)}" for k, v in list(state.items())[:3]), "...")
PY

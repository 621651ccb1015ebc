#!/usr/bin/env bash
# Trains the study's eight experiments (configs/br35h_*.toml and
# configs/four_class_*.toml, whichever exist) on $CEREBRA_DATA and writes the
# paper's Table 2 (Br35H) and Table 3 (four-class) beside Cerebra's figures as
# Markdown; then the in-domain rows: each configs/pretrain_<model>.toml once,
# the <dataset>_<model>_indomain configs fine-tuned from it, and their
# from-scratch twins (same config, no starting weights).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tools/reproduce-paper.sh [options] [-- --set section.key=value ...]

Trains configs/{br35h,four_class}_{cnn,vgg16,resnet50,inception_v3}.toml (those
that exist) on the datasets under $CEREBRA_DATA, then writes the paper's
Table 2 (Br35H) and Table 3 (four-class) beside Cerebra's results.

Options:
  --only LIST       comma-separated experiments to run: a model (cnn, vgg16,
                    resnet50, inception_v3), a dataset (br35h, four_class) or a
                    config name (br35h_cnn); default: all
  --out DIR         where runs and the report go (default: reproduce-<date>)
  --configs DIR     folder holding the configs (default: configs)
  --cerebra PATH    the cerebra binary (default: $CEREBRA_BUILD_DIR/bin/cerebra
                    or build/bin/cerebra)
  --tables-only     train nothing: rebuild the tables from the runs in --out
  --no-indomain     leave out the in-domain rows (pretraining, fine-tuning from
                    it and the from-scratch twins; on 2 cores ResNet50's alone
                    take about two hours, VGG16's and InceptionV3's many more:
                    choose with --only)
  -h, --help        this help

Anything after `--` is passed to every `cerebra run` (e.g. -- --set training.epochs=1).
The report is written to OUT/paper-tables.md and printed.
Exit codes: 0 every selected experiment trained, 1 some failed or none exist, 2 bad usage.
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
only=""
out=""
configs="$root/configs"
cerebra="${CEREBRA_BUILD_DIR:-$root/build}/bin/cerebra"
tables_only=0
indomain=1
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) only="${2:?--only needs a list}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --configs) configs="${2:?--configs needs a folder}"; shift 2 ;;
    --cerebra) cerebra="${2:?--cerebra needs a path}"; shift 2 ;;
    --tables-only) tables_only=1; shift ;;
    --no-indomain) indomain=0; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "reproduce-paper: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n "$out" ]] || out="reproduce-$(date +%Y%m%d-%H%M%S)"
[[ -x "$cerebra" ]] || { echo "reproduce-paper: $cerebra: no cerebra binary (build first: tools/build.sh)" >&2; exit 2; }
[[ -d "$configs" ]] || { echo "reproduce-paper: $configs: no such folder" >&2; exit 2; }
datasets=(br35h four_class)
models=(cnn vgg16 resnet50 inception_v3)

# Whether the experiment <dataset>_<model> is in --only.
selected() {
  [[ -z "$only" ]] && return 0
  local item
  IFS=',' read -ra items <<<"$only"
  for item in "${items[@]}"; do
    [[ "$item" == "$1" || "$item" == "$2" || "$item" == "$1_$2" ]] && return 0
  done
  return 1
}

if [[ -n "$only" ]]; then
  IFS=',' read -ra items <<<"$only"
  for item in "${items[@]}"; do
    known=0
    for d in "${datasets[@]}"; do
      for m in "${models[@]}"; do
        [[ "$item" == "$d" || "$item" == "$m" || "$item" == "${d}_$m" ]] && known=1
      done
    done
    [[ $known -eq 1 ]] || { echo "reproduce-paper: --only: unknown experiment '$item'" >&2; exit 2; }
  done
fi

if [[ $tables_only -eq 0 ]]; then
  if [[ -z "${CEREBRA_DATA:-}" ]]; then
    echo "reproduce-paper: set CEREBRA_DATA to the folder holding the Br35H and four-class datasets" >&2
    exit 2
  fi
  [[ -d "$CEREBRA_DATA" ]] || { echo "reproduce-paper: CEREBRA_DATA=$CEREBRA_DATA: no such folder" >&2; exit 2; }
fi

# One experiment into its own folder, so its run directory is the only one there.
train() {
  local name="$1" config="$2"
  shift 2
  local dest="$out/runs/$name"
  rm -rf "$dest"
  mkdir -p "$dest"
  echo "== $name ($config $*)" >&2
  if ! "$cerebra" run "$config" --set "run.output=$dest" "$@" ${extra[@]+"${extra[@]}"} 2>&1 | tee "$out/runs/$name.log" >&2; then
    echo "reproduce-paper: $name failed; see $out/runs/$name.log" >&2
    failed=$((failed + 1))
    return 1
  fi
}

mkdir -p "$out/runs"
failed=0
ran=0
for d in "${datasets[@]}"; do
  for m in "${models[@]}"; do
    selected "$d" "$m" || continue
    config="$configs/${d}_$m.toml"
    if [[ ! -f "$config" ]]; then
      echo "reproduce-paper: $config: not written yet; skipped" >&2
      continue
    fi
    ran=$((ran + 1))
    [[ $tables_only -eq 1 ]] && continue
    train "${d}_$m" "$config" || true
  done
done
# In-domain rows: pretraining once per model, then each dataset's fine-tuning
# from it and the from-scratch twin with the same recipe.
indomain_models=()
if [[ $indomain -eq 1 ]]; then
  for m in "${models[@]}"; do
    [[ -f "$configs/pretrain_$m.toml" ]] || continue
    wanted=()
    for d in "${datasets[@]}"; do
      selected "$d" "$m" && [[ -f "$configs/${d}_${m}_indomain.toml" ]] && wanted+=("$d")
    done
    [[ ${#wanted[@]} -gt 0 ]] || continue
    indomain_models+=("$m")
    ran=$((ran + 1))
    [[ $tables_only -eq 1 ]] && continue
    train "pretrain_$m" "$configs/pretrain_$m.toml" || continue
    for d in "${wanted[@]}"; do
      train "${d}_${m}_indomain" "$configs/${d}_${m}_indomain.toml" \
        --set "transfer.weights=$out/runs/pretrain_$m/pretrain_$m" || true
      train "${d}_${m}_scratch_twin" "$configs/${d}_${m}_indomain.toml" \
        --set transfer.mode=scratch --set transfer.weights= --set "run.name=${d}_${m}_scratch_twin" || true
    done
  done
fi

if [[ $ran -eq 0 ]]; then
  echo "reproduce-paper: no selected experiment has a config in $configs" >&2
  exit 1
fi

# The run directory of an experiment, or nothing (not the run store's hidden .cerebra/).
run_of() {
  local dest="$out/runs/$1"
  [[ -d "$dest" ]] || return 0
  find "$dest" -mindepth 1 -maxdepth 1 -type d -not -name '.*' | sort | tail -n 1
}

# The paper's reported accuracies.
paper_accuracy() {
  case "$1" in
    br35h_cnn) echo 0.97 ;; br35h_vgg16) echo 0.99 ;; br35h_resnet50) echo 1.00 ;; br35h_inception_v3) echo 1.00 ;;
    four_class_cnn) echo 0.87 ;; four_class_resnet50) echo 0.93 ;; four_class_vgg16) echo 0.96 ;;
    four_class_inception_v3) echo 0.97 ;;
  esac
}

display() {
  case "$1" in cnn) echo CNN ;; vgg16) echo VGG16 ;; resnet50) echo ResNet50 ;; inception_v3) echo InceptionV3 ;; esac
}

# Column of a `cerebra compare --csv` row by header name (no quoted commas in
# the columns read here).
csv_column() {
  local header="$1" row="$2" name="$3"
  awk -F, -v h="$header" -v r="$row" -v n="$name" 'BEGIN {
    split(h, names, ","); split(r, values, ",");
    for (i in names) if (names[i] == n) { print values[i]; exit }
  }'
}

# One table row: LABEL PAPER EXPERIMENT; the run (if any) is added to `runs`.
row() {
  local label="$1" paper="$2" run
  run="$(run_of "$3")"
  local accuracy="not run" f1="" weights=""
  if [[ -n "$run" ]]; then
    runs+=("$run")
    local csv header line
    csv="$("$cerebra" compare "$run" --csv 2>/dev/null || true)"
    header="$(sed -n 1p <<<"$csv")"
    line="$(sed -n 2p <<<"$csv")"
    if [[ -n "$line" ]]; then
      accuracy="$(csv_column "$header" "$line" Accuracy)"
      f1="$(csv_column "$header" "$line" F1-Score)"
      weights="$(csv_column "$header" "$line" "ImageNet weights")"
      [[ -n "$accuracy" ]] || accuracy="no test metrics"
      case "$weights" in
        yes*) weights="ImageNet ${weights#yes }" ;;
        no) weights="from scratch" ;;
        "no (weights missing)") weights="from scratch (ImageNet weights file missing)" ;;
        "from run "*) weights="in-domain self-supervised pretraining (${weights#from run })" ;;
      esac
    else
      accuracy="failed"
    fi
  fi
  echo "| $label | $paper | $accuracy | $f1 | $weights |"
}

table() {
  local d="$1" title="$2" paper_order="$3"
  local runs=() m
  echo "## $title"
  echo
  echo "| Model | Paper accuracy | Cerebra accuracy | Cerebra F1-Score | Weights |"
  echo "|---|---:|---:|---:|---|"
  for m in $paper_order; do
    selected "$d" "$m" || continue
    row "$(display "$m")" "$(paper_accuracy "${d}_$m")" "${d}_$m"
  done
  for m in ${indomain_models[@]+"${indomain_models[@]}"}; do
    selected "$d" "$m" && [[ -f "$configs/${d}_${m}_indomain.toml" ]] || continue
    local paper=""  # the paper's pretrained rows started from ImageNet; its CNN from scratch
    [[ "$m" == cnn ]] || paper="(ImageNet: $(paper_accuracy "${d}_$m"))"
    row "$(display "$m"), in-domain pretraining" "$paper" "${d}_${m}_indomain"
    row "$(display "$m"), same recipe from scratch" "" "${d}_${m}_scratch_twin"
  done
  echo
  if [[ ${#runs[@]} -gt 0 ]]; then
    echo "All of Cerebra's test figures (\`cerebra compare --markdown\`):"
    echo
    "$cerebra" compare "${runs[@]}" --markdown 2>/dev/null || true
    echo
  fi
}

report="$out/paper-tables.md"
{
  echo "# The paper's tables beside Cerebra's"
  echo
  echo "Generated by tools/reproduce-paper.sh on $(date -u +%Y-%m-%d) from the runs in \`$out/runs\`."
  echo "The paper reports accuracy to two decimals; Cerebra's figures are on its own held-out"
  echo "test split (see each run's split.csv). \"Weights\" says whether a run started from"
  echo "ImageNet weights (and with which transfer mode) or trained from scratch: the paper's"
  echo "pretrained models are only comparable when the published weights were available."
  echo
  table br35h "Table 2: Br35H (tumour / no tumour)" "cnn vgg16 resnet50 inception_v3"
  table four_class "Table 3: four-class (glioma, meningioma, pituitary, no tumour)" "cnn resnet50 vgg16 inception_v3"
} >"$report.tmp"
mv "$report.tmp" "$report"
cat "$report"
echo "report: $report" >&2
[[ $failed -eq 0 ]] || exit 1

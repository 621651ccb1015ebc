#!/usr/bin/env bash
# Downloads the real datasets into datasets/<name>/ (ignored by git).
#   datasets/download.sh [br35h] [brain-tumor-mri-4class]   (default: both)
# Uses the Kaggle CLI when it is installed and configured (~/.kaggle/kaggle.json);
# otherwise prints the manual steps.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(br35h brain-tumor-mri-4class)

slug_of() {
  case "$1" in
    br35h) echo "ahmedhamada0/brain-tumor-detection" ;;
    brain-tumor-mri-4class) echo "sartajbhuvaji/brain-tumor-classification-mri" ;;
    *) echo "unknown dataset '$1' (known: br35h, brain-tumor-mri-4class)" >&2; return 1 ;;
  esac
}

manual() {
  local name="$1" slug="$2"
  cat <<STEPS
Manual steps for $name:
  1. Open https://www.kaggle.com/datasets/$slug and download the archive.
  2. Unzip it so that the class folders end up under $here/$name/:
STEPS
  if [ "$name" = br35h ]; then
    echo "       $here/br35h/yes/  $here/br35h/no/  ($here/br35h/pred/ is not used for training)"
  else
    echo "       $here/brain-tumor-mri-4class/Training/<class>/  and optionally .../Testing/<class>/"
  fi
  echo "  3. Or keep the data elsewhere and set CEREBRA_DATA to the folder that holds $name/."
}

# The archives nest their folders differently between releases; move whatever
# directory holds the expected class folders up to datasets/<name>/.
arrange() {
  local name="$1" target="$here/$1" marker
  if [ "$name" = br35h ]; then marker=yes; else marker=Training; fi
  [ -d "$target/$marker" ] && return 0
  local found
  found="$(find "$target" -mindepth 2 -maxdepth 4 -type d -name "$marker" | head -n 1)"
  if [ -z "$found" ]; then
    echo "$target: downloaded, but no $marker/ folder inside; arrange it by hand" >&2
    return 1
  fi
  local parent
  parent="$(dirname "$found")"
  for entry in "$parent"/*; do mv -n "$entry" "$target/"; done
}

status=0
for name in "${names[@]}"; do
  slug="$(slug_of "$name")" || { status=1; continue; }
  if command -v kaggle >/dev/null 2>&1; then
    mkdir -p "$here/$name"
    echo "Downloading $slug into $here/$name ..."
    if kaggle datasets download -d "$slug" -p "$here/$name" --unzip; then
      arrange "$name" || status=1
    else
      echo "kaggle download failed for $name (is ~/.kaggle/kaggle.json set up?)" >&2
      manual "$name" "$slug"
      status=1
    fi
  else
    echo "The kaggle CLI is not installed (pip install kaggle)."
    manual "$name" "$slug"
  fi
done
exit $status

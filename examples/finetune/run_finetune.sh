#!/bin/sh
# The fine-tuning example (`make finetune-demo`): pre-train fedlearn's zoo
# LeNet-5 centrally with PyTorch on Fashion-MNIST classes 0-4 (pretrain.py,
# Debian's python3-torch), then federate the task it was not trained for,
# classes 5-9, over 10 virtual sites with fedlearn-sim and secure
# aggregation, five ways: from scratch, full fine-tuning, last layer only,
# last two layers, LoRA adapters; then a small transformer sequence
# classifier (make_row_transformer.py, TorchScript) two ways: full
# fine-tuning and LoRA adapters. Prints the Markdown table of
# README.md's "Fine-tuning pre-trained models" (finetune_table.py).
#
#   examples/finetune/run_finetune.sh [BUILD_DIR] [WORK_DIR] [--quick]
#
# BUILD_DIR defaults to build, WORK_DIR (weights, data, one state
# directory per run, results.json, table.md) to finetune-demo. --quick
# (the e2e test): 5 sites, 1 round, fewer images, no transformer rows
# and no merge check. Run from the repository root. WORK_DIR is replaced
# (a non-empty directory without this script's pretrain.json is refused).
# Exits non-zero if a step fails.
set -eu

build=${1:-build}
work=${2:-finetune-demo}
quick=${3:-}
here=$(dirname "$0")

if [ -d "$work" ] && [ ! -e "$work/pretrain.json" ] &&
  [ -n "$(ls -A "$work")" ]; then
  echo "refusing to replace $work: not a run_finetune.sh work directory" >&2
  exit 1
fi
rm -rf "$work"
mkdir -p "$work"
if [ "$quick" = "--quick" ]; then
  set -- --pretrain-images 4000 --epochs 1 --finetune-train 1000
else
  set -- --pretrain-images 30000 --epochs 2 --finetune-train 5000
fi
echo "pre-training LeNet-5 on Fashion-MNIST classes 0-4 (PyTorch)"
/usr/bin/python3 "$here/pretrain.py" --out-dir "$work" "$@" >/dev/null
if [ "$quick" != "--quick" ]; then
  echo "pre-training a small transformer on the same classes (PyTorch)"
  /usr/bin/python3 "$here/make_row_transformer.py" \
    --out "$work/row-transformer.pt" >"$work/row-transformer.json"
fi
/usr/bin/python3 "$here/finetune_table.py" "$build" "$work" $quick

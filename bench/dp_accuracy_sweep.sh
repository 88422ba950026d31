#!/usr/bin/env bash
# Accuracy against epsilon for DP-FedAvg on the dp-demo population
# (deploy/dp-demo.toml: 1,000 IID Fashion-MNIST clients, logreg, q = 0.1):
#   off          no DP, 100 clients per round, secure aggregation on (baseline)
#   central      the coordinator adds the Gaussian noise, target eps 1, 2, 4, 8
#   distributed  the clients add discrete Gaussian noise inside secure
#                aggregation, target eps 1, 2, 4, 8
# Every run keeps the demo's settings (seed, data, model, training, clipping)
# except dp.mode, dp.target_epsilon and, for `off`, rounds.clients_per_round;
# all runs have the same number of rounds, and the noise is calibrated for it.
# Prints a Markdown table on stdout; progress goes to stderr.
#
# A run that exits non-zero is reported (its last stderr line) and the sweep
# goes on; the script then exits 1.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/dp_accuracy_sweep.sh [BUILD_DIR] [--rounds N] [--quick]
                                  [--epsilons "E1 E2 ..."] [--modes "M ..."]
                                  [--certs DIR] [--keep]

  BUILD_DIR    CMake build directory holding bin/fedlearn-sim (default: build)
  --rounds N   federated rounds of every run (default 30; --quick: 3)
  --quick      smoke check: off, central eps 8, distributed eps 8
  --epsilons L only central and distributed at these target epsilons
               (no baseline), e.g. --epsilons "0.25 0.5"
  --modes L    with --epsilons: which of central, distributed (default both)
  --certs DIR  client certificates, generated on first use and reused
               (default: BUILD_DIR/dp-sweep-certs)
  --keep       keep the generated configs, logs and state directories

Full sweep: 9 runs, about 2.5 min each at 30 rounds on 2 cores.
EOF
}

invocation="bench/dp_accuracy_sweep.sh"
[[ $# -eq 0 ]] || invocation+="$(printf ' %q' "$@")"
build=build
rounds=""
quick=0
certs=""
keep=0
epsilons=""
modes="central distributed"
build_set=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --rounds)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      rounds="$2"; shift 2 ;;
    --rounds=*) rounds="${1#--rounds=}"; shift ;;
    --quick) quick=1; shift ;;
    --epsilons)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      epsilons="$2"; shift 2 ;;
    --modes)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      modes="$2"; shift 2 ;;
    --certs)
      [[ $# -ge 2 ]] || { usage >&2; exit 2; }
      certs="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *)
      if [[ $build_set -eq 1 ]]; then usage >&2; exit 2; fi
      build="$1"; build_set=1; shift ;;
  esac
done
if [[ -z "$rounds" ]]; then
  if [[ $quick -eq 1 ]]; then rounds=3; else rounds=30; fi
fi
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "--rounds must be a positive integer, got '$rounds'" >&2
  exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
demo="$repo/deploy/dp-demo.toml"
sim="$build/bin/fedlearn-sim"
[[ -x "$sim" ]] || { echo "no $sim: build the fedlearn-sim target first" >&2; exit 1; }
[[ -f "$demo" ]] || { echo "no $demo" >&2; exit 1; }
certs="${certs:-$build/dp-sweep-certs}"
mkdir -p "$certs"

work="$(mktemp -d "${TMPDIR:-/tmp}/dp-accuracy-sweep.XXXXXX")"
if [[ $keep -eq 1 ]]; then
  echo "keeping $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi
# One snapshot, so every run starts from the same demo even if it is edited
# while the sweep runs.
cp "$demo" "$work/dp-demo.toml"
demo="$work/dp-demo.toml"

# write_config BASE SETS OUT (bench/toml_overrides.sh).
# shellcheck disable=SC1091
source "$repo/bench/toml_overrides.sh"

# Reads metrics.jsonl: z, epsilon spent, final and best accuracy, rounds logged.
summarize() {
  python3 -c '
import json, sys
last = {}
with open(sys.argv[1]) as f:
    for line in f:
        if line.strip():
            m = json.loads(line)
            last[m["round"]] = m   # a retried round keeps its last attempt
rows = [last[r] for r in sorted(last)]
if not rows:
    print("-\t-\t-\t-\t0")
    sys.exit(0)
dp = rows[-1].get("dp")
acc = [r["test_accuracy"] for r in rows if "test_accuracy" in r]
fmt = lambda a: "%.2f%%" % (100 * a)
print("\t".join([
    "%.4f" % dp["noise_multiplier"] if dp else "-",
    "%.3f" % dp["epsilon"] if dp else "-",
    fmt(acc[-1]) if acc else "-",
    fmt(max(acc)) if acc else "-",
    str(rows[-1]["round"]),
]))
' "$1"
}

if [[ -n "$epsilons" ]]; then
  runs=()
  for mode in $modes; do
    [[ "$mode" == central || "$mode" == distributed ]] || { echo "bad mode '$mode'" >&2; exit 2; }
    for eps in $epsilons; do
      [[ "$eps" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "bad epsilon '$eps'" >&2; exit 2; }
      runs+=("$mode $eps")
    done
  done
elif [[ $quick -eq 1 ]]; then
  runs=("off -" "central 8" "distributed 8")
else
  runs=("off -" "central 1" "central 2" "central 4" "central 8"
        "distributed 1" "distributed 2" "distributed 4" "distributed 8")
fi

echo "# DP-FedAvg: test accuracy against epsilon"
echo
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
echo "Machine: nproc $(nproc), ${cpu:-unknown CPU}, $(uname -sm);" \
  "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "Command: \`$invocation\`"
echo "Base config: deploy/dp-demo.toml ($rounds rounds, delta 1e-5, q = 0.1," \
  "adaptive clipping; off = 100 clients per round, secure aggregation on)"
echo
echo "| mode | target ε | noise multiplier z | ε spent (last round) | final test accuracy | best accuracy | seconds |"
echo "|---|---|---|---|---|---|---|"

failures=0
for run in "${runs[@]}"; do
  read -r mode eps <<<"$run"
  name="$mode"; [[ "$eps" == - ]] || name+="-$eps"
  if [[ "$mode" == off ]]; then
    sets='dp.mode="off";rounds.clients_per_round=100'
  else
    toml_eps="$eps"; [[ "$eps" == *.* ]] || toml_eps+=".0"
    sets="dp.mode=\"$mode\";dp.target_epsilon=$toml_eps"
  fi
  write_config "$demo" "$sets" "$work/$name.toml"
  echo "[$(date -u +%H:%M:%S)] $name: $rounds rounds" >&2
  start=$(date +%s.%N)
  rc=0
  "$sim" --config "$work/$name.toml" --state-dir "$work/$name" \
    --certs "$certs" --rounds "$rounds" \
    >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  seconds=$(python3 -c 'import sys; print("%.0f" % (float(sys.argv[2]) - float(sys.argv[1])))' \
    "$start" "$(date +%s.%N)")
  tail -n 1 "$work/$name.out" >&2 || true
  if [[ $rc -ne 0 ]]; then
    failures=$((failures + 1))
    why="$(grep -v '^[[:space:]]*$' "$work/$name.err" | tail -n 1 | tr '|' '/')"
    echo "$name FAILED (exit $rc): $why" >&2
    echo "| $mode | $eps | FAILED (exit $rc) | ${why:-no stderr} | - | - | $seconds |"
    continue
  fi
  if ! summary="$(summarize "$work/$name/metrics.jsonl" 2>"$work/$name.parse")"; then
    failures=$((failures + 1))
    why="$(tail -n 1 "$work/$name.parse" | tr '|' '/')"
    echo "$name: metrics.jsonl unreadable: $why" >&2
    echo "| $mode | $eps | FAILED (metrics) | ${why:-no metrics} | - | - | $seconds |"
    continue
  fi
  IFS=$'\t' read -r z spent final best done_rounds <<<"$summary"
  if [[ "$done_rounds" != "$rounds" ]]; then
    final="$final (after $done_rounds of $rounds rounds)"
  fi
  echo "| $mode | $eps | $z | $spent | $final | $best | $seconds |"
done

if [[ $failures -gt 0 ]]; then
  echo >&2
  echo "$failures run(s) failed" >&2
  exit 1
fi

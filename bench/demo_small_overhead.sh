#!/usr/bin/env bash
# How much of a `make demo-small` round (deploy/demo.toml: 10 LeNet-5
# clients, Fashion-MNIST, secure aggregation over mutual TLS, server-side
# evaluation on the 10k test images) is spent outside local training.
#
#   bench/demo_small_overhead.sh [ROUNDS] [CONFIG] [SIM]
#
# ROUNDS (default 4) rounds of CONFIG (default deploy/demo.toml) in one
# fedlearn-sim (SIM, default build/bin/fedlearn-sim) at log level debug, so
# each client logs its training time ("pushed update (... S s)"). Over rounds
# 2..ROUNDS it prints the round period (consecutive metrics.jsonl unix_ms),
# the training wall time the slots needed (the clients' training seconds
# summed per round and divided by the training slots, or the longest single
# training if that is more: a lower bound on training's share of the round)
# and the rest, "outside training", as seconds and as a share of the round.
# "release s" is the part of it from the aggregate (secure aggregation's
# Unmasking closed) to the next round's selection: server-side evaluation,
# the commit to the state directory and the next round's start.
# DEMO_BENCH_REUSE=1 re-reads the last run in $DEMO_BENCH_DIR (default
# /tmp/fedlearn-demo-small-bench) instead of running again.
set -euo pipefail

rounds="${1:-4}"
config="${2:-deploy/demo.toml}"
sim="${3:-build/bin/fedlearn-sim}"
dir="${DEMO_BENCH_DIR:-/tmp/fedlearn-demo-small-bench}"
# shellcheck source=bench/toml_overrides.sh
source "$(dirname "$0")/toml_overrides.sh"

mkdir -p "$dir"
if [[ "${DEMO_BENCH_REUSE:-0}" != 1 ]]; then  # 1: re-read the last run
  rm -rf "$dir/state" "$dir/run.toml" "$dir/sim.log"
  write_config "$config" "run.rounds=$rounds;run.log_level=\"debug\"" \
    "$dir/run.toml"
  "$sim" --config "$dir/run.toml" --state-dir "$dir/state" \
    --certs "$dir/certs" >"$dir/sim.log" 2>&1
fi

/usr/bin/python3 - "$dir" <<'EOF'
import collections, json, os, re, sys

d = sys.argv[1]
log = open(os.path.join(d, "sim.log")).read()
ls = [json.loads(l) for l in open(os.path.join(d, "state", "metrics.jsonl"))]
m = re.search(r"(\d+) training slots", log)
slots = int(m.group(1)) if m else 1
train = collections.defaultdict(list)
for r, s in re.findall(r"round (\d+): (?:pushed update|securely aggregated "
                      r"update) \(.*?, ([\d.]+) s(?: training)?\)", log):
    train[int(r)].append(float(s))
# Round r's release: from its "Unmasking closed" to the next selection (or
# the run's end after the last round).
stamp = r"\[(\d+-\d+-\d+ [\d:.]+)\] \[fedlearn\] \[\w+\] "
events = [(m.group(1), m.group(2)) for m in re.finditer(
    stamp + r"(secure aggregation: Unmasking closed|round \d+ attempt \d+: "
    r"selected|run \S+ finished)", log)]
release, closed, rr = {}, None, 1
for t, what in events:
    secs = sum(float(x) * f for x, f in zip(t[11:].split(":"), (3600, 60, 1)))
    if what.startswith("secure"):
        closed = secs
    elif closed is not None:
        release[rr] = secs - closed
        closed = None
        rr += 1
print(f"demo-small: {slots} training slots; rounds 2..{len(ls)}")
print(f"{'round':>5} {'period s':>9} {'training s':>11} {'outside s':>10} "
      f"{'outside':>8} {'release s':>10}")
tp = tt = 0.0
for prev, cur in zip(ls, ls[1:]):
    r = cur["round"]
    period = (cur["unix_ms"] - prev["unix_ms"]) / 1000.0
    t = max(sum(train[r]) / slots, max(train[r], default=0.0))
    tp += period
    tt += t
    rel = f"{release[r]:.2f}" if r in release else "-"
    print(f"{r:>5} {period:>9.2f} {t:>11.2f} {period - t:>10.2f} "
          f"{100 * (period - t) / period:>7.1f}% {rel:>10}")
print(f"{'all':>5} {tp:>9.2f} {tt:>11.2f} {tp - tt:>10.2f} "
      f"{100 * (tp - tt) / tp:>7.1f}%")
EOF

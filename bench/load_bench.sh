#!/bin/bash
# Load and scale of one coordinator on loopback (issue 13, "Load and scale"):
# light clients (fedlearn-sim --synthetic-updates: NOT TRAINING, seeded
# random vectors of the model's size through the real stack: mutual TLS,
# secure aggregation with its sparse graph) in one pool process against a
# coordinator in its own process (fedlearn-sim --coordinator-only).
#
# Usage: bench/load_bench.sh [BINDIR [WORKDIR]]
#   defaults: build/bin, a new temporary directory (removed).
#   env: SIZES="100 250 500 1000" (all selected every round), ROUNDS=4,
#        IDLE_N=1000, IDLE_S=30, VIRTUAL=10000 (0 = skip), VIRTUAL_ROUNDS=3,
#        PER_ROUND=1000 (the 10,000-client run's cohort).
#        LONG_WAIT_MS=20000 (the long-polling idle run's --fetch-wait-ms).
# Prints Markdown tables: per N the median round time (rounds 2..R), the
# coordinator's CPU seconds per round and peak RSS (VmHWM) and threads;
# the coordinator's idle CPU with IDLE_N connected clients and no round
# (min_clients above N), polling (--fetch-wait-ms 0, poll_interval_ms 1000
# as make demo) and long polling (--fetch-wait-ms 20000), in this run;
# and 1,000 vs VIRTUAL clients, PER_ROUND per round.
set -u
BIN=${1:-build/bin}; W=${2:-}
SIZES=${SIZES:-"100 250 500 1000"}; ROUNDS=${ROUNDS:-4}
IDLE_N=${IDLE_N:-1000}; IDLE_S=${IDLE_S:-30}
VIRTUAL=${VIRTUAL:-10000}; VIRTUAL_ROUNDS=${VIRTUAL_ROUNDS:-3}
PER_ROUND=${PER_ROUND:-1000}
HERE=$(cd "$(dirname "$0")" && pwd)
TMPW=""; if [ -z "$W" ]; then W=$(mktemp -d); TMPW=$W; fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$TMPW" ] && rm -rf "$TMPW"
}
trap cleanup EXIT
# Each TLS connection is a descriptor on both sides.
ulimit -n "$(ulimit -Hn)"
mkdir -p "$W"
"$BIN/fedlearn-certs" init --out "$W/certs" --clients 1 >/dev/null 2>&1 || {
  echo "fedlearn-certs init failed" >&2; exit 1; }

# config FILE MIN_CLIENTS PER_ROUND ROUNDS
config() {
  cat > "$1" <<TOML
[run]
id = "load"
rounds = $4
seed = 1
[server]
poll_interval_ms = 1000
[rounds]
min_clients = $2
clients_per_round = $3
min_updates = $(( $3 / 2 > 3 ? $3 / 2 : 3 ))
timeout_s = 600
[model]
architecture = "logreg"
input_shape = [1, 28, 28]
num_classes = 10
[evaluation]
dataset = ""
[secagg]
enabled = true
phase_timeout_s = 120
[limits]
max_tracked_identities = 40000
TOML
}

# coordinator NAME CLIENTS: starts it, sets CPID and PORT.
coordinator() {
  "$BIN/fedlearn-sim" --coordinator-only --config "$W/$1.toml" \
    --certs "$W/certs" --state-dir "$W/$1-state" --clients "$2" \
    --listen 127.0.0.1:0 >"$W/$1-coord.out" 2>"$W/$1-coord.err" &
  CPID=$!; PIDS+=($CPID)
  for _ in $(seq 600); do
    grep -q "listening on port" "$W/$1-coord.out" && break; sleep 0.1
  done
  PORT=$(grep -o "listening on port [0-9]*" "$W/$1-coord.out" | awk '{print $4}')
}

# pool NAME CLIENTS RANGE_END WAIT_MS: sets PPID_.
pool() {
  "$BIN/fedlearn-sim" --clients-only --config "$W/$1.toml" --certs "$W/certs" \
    --clients "$2" --client-range "0:$3" --coordinator "127.0.0.1:$PORT" \
    --server-name localhost --synthetic-updates --fetch-wait-ms "$4" \
    >"$W/$1-pool.out" 2>"$W/$1-pool.err" &
  PPID_=$!; PIDS+=($PPID_)
}

# rounds_run NAME N PER_ROUND ROUNDS: one measured run (coordinator sampled).
rounds_run() {
  config "$W/$1.toml" "$2" "$3" "$4"
  coordinator "$1" "$2"
  /usr/bin/python3 "$HERE/load_sampler.py" "$CPID" "$W/$1-state/metrics.jsonl" \
    "$W/$1-coord.json" & local spid=$!
  pool "$1" "$2" "$2" 20000
  /usr/bin/python3 "$HERE/load_sampler.py" "$PPID_" /dev/null "$W/$1-pool.json" &
  local ppid_s=$!
  wait "$CPID"; wait "$PPID_"; wait "$spid" "$ppid_s"
}

# idle_run NAME WAIT_MS: IDLE_N clients connected, no round (min_clients is
# one more than there are clients), the coordinator's CPU over IDLE_S.
idle_run() {
  config "$W/$1.toml" $((IDLE_N + 1)) $((IDLE_N + 1)) 1
  coordinator "$1" $((IDLE_N + 1))
  pool "$1" $((IDLE_N + 1)) "$IDLE_N" "$2"
  for _ in $(seq 3000); do
    [ "$(grep -c ' registered (' "$W/$1-coord.err")" -ge "$IDLE_N" ] && break
    sleep 0.1
  done
  sleep 5  # let the registrations' own work settle
  /usr/bin/python3 "$HERE/load_sampler.py" "$CPID" "$W/$1-state/metrics.jsonl" \
    "$W/$1-coord.json" 0 "$IDLE_S"
  kill "$PPID_" "$CPID" 2>/dev/null; wait "$PPID_" "$CPID" 2>/dev/null
}

for n in $SIZES; do rounds_run "n$n" "$n" "$n" "$ROUNDS"; done
if [ "$IDLE_N" -gt 0 ]; then
  idle_run idle-poll 0
  idle_run idle-long "${LONG_WAIT_MS:-20000}"
fi
if [ "$VIRTUAL" -gt 0 ]; then
  rounds_run "v1000" 1000 "$PER_ROUND" "$VIRTUAL_ROUNDS"
  rounds_run "v$VIRTUAL" "$VIRTUAL" "$PER_ROUND" "$VIRTUAL_ROUNDS"
fi

/usr/bin/python3 - "$W" "$SIZES" "$IDLE_N" "$IDLE_S" "$VIRTUAL" "$PER_ROUND" <<'PY'
import json, os, statistics, sys
w, sizes, idle_n, idle_s, virtual, per_round = sys.argv[1:7]
def run(name):
    path = f"{w}/{name}-state/metrics.jsonl"
    rounds = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    c = json.load(open(f"{w}/{name}-coord.json"))
    p = json.load(open(f"{w}/{name}-pool.json")) if os.path.exists(f"{w}/{name}-pool.json") else {}
    secs = [r["seconds"] for r in rounds[1:]] or [r["seconds"] for r in rounds]
    cpu = c["round_end_cpu_s"]
    per = (cpu[-1] - cpu[0]) / (len(cpu) - 1) if len(cpu) > 1 else float("nan")
    return dict(rounds=len(rounds), t=statistics.median(secs) if secs else float("nan"),
                cpu=per, rss=c["vmhwm_kb"] / 1024, thr=c["max_threads"],
                prss=p.get("vmhwm_kb", 0) / 1024, pthr=p.get("max_threads", 0),
                part=rounds[-1]["participants"] if rounds else 0)
print("Light clients (--synthetic-updates, NOT TRAINING), logistic regression "
      "(7,850 params), secure aggregation, mutual TLS, all selected every round; "
      "coordinator and client pool in separate processes on loopback.\n")
print("| clients | rounds | median round (s) | coordinator CPU / round (s) | coordinator peak RSS (MB) | coordinator threads |")
print("|---:|---:|---:|---:|---:|---:|")
rows = {}
for n in sizes.split():
    r = rows[n] = run(f"n{n}")
    print(f"| {n} | {r['rounds']} | {r['t']:.2f} | {r['cpu']:.2f} | {r['rss']:.0f} | {r['thr']} |")
ns = sizes.split()
if len(ns) > 1:
    a, b = rows[ns[0]], rows[ns[-1]]
    print(f"\nGrowth {ns[0]} -> {ns[-1]} clients (x{int(ns[-1]) // int(ns[0])}): round time x{b['t'] / a['t']:.1f}, "
          f"CPU/round x{b['cpu'] / a['cpu']:.1f}, peak RSS x{b['rss'] / a['rss']:.1f}.")
if int(idle_n) > 0:
  print(f"\nIdle cost: {idle_n} connected clients, no round in progress, coordinator CPU over {idle_s} s:\n")
  print("| idle clients fetch by | coordinator CPU (% of one core) |")
  print("|---|---:|")
  for name, label in (("idle-poll", "polling every 1 s (`--fetch-wait-ms 0`, as before)"),
                    ("idle-long", f"long poll (`--fetch-wait-ms {os.environ.get('LONG_WAIT_MS', '20000')}`)")):
      c = json.load(open(f"{w}/{name}-coord.json"))
      print(f"| {label} | {c.get('idle_cpu_percent', float('nan')):.2f} |")
if int(virtual) > 0:
    print(f"\nVirtual clients, {per_round} per round (all in one pool process):\n")
    print("| clients | rounds | median round (s) | coordinator peak RSS (MB) | coordinator threads | pool peak RSS (MB) | pool threads |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in ("1000", virtual):
        r = run(f"v{n}")
        print(f"| {n} | {r['rounds']} | {r['t']:.2f} | {r['rss']:.0f} | {r['thr']} | {r['prss']:.0f} | {r['pthr']} |")
PY

#!/bin/bash
# How soon clients return to a restarted coordinator (issue 13).
# Usage: bench/coordinator_restart_reconnect.sh [BINDIR [WORKDIR [OUTAGE_S]]]
#   defaults: build/bin, a new temporary directory (removed), 12 s.
# Starts a coordinator and 3 clients, SIGKILLs the coordinator after round 1,
# restarts it on the same port and state dir after OUTAGE_S seconds, and
# prints, for each client, the seconds from the restarted coordinator's
# "listening on port" line to that client's re-registration.
set -u
BIN=${1:-build/bin}; W=${2:-}; OUTAGE=${3:-12}
TMPW=""; if [ -z "$W" ]; then W=$(mktemp -d); TMPW=$W; fi
CPID=""; PIDS=()
cleanup() {
  for p in $CPID "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$TMPW" ] && rm -rf "$TMPW"
}
trap cleanup EXIT
rm -rf "$W"; mkdir -p "$W"
"$BIN/fedlearn-certs" init --out "$W/certs" --clients 3 >/dev/null 2>&1 || exit 1
cat > "$W/coordinator.toml" <<TOML
[run]
id = "restart"
rounds = 3
seed = 3
[rounds]
min_clients = 3
clients_per_round = 3
min_updates = 3
timeout_s = 120
[secagg]
enabled = false
[model]
architecture = "logreg"
[training]
learning_rate = 0.05
batch_size = 64
[evaluation]
dataset = ""
[security]
enrolled_clients = ["client-001", "client-002", "client-003"]
TOML
coord() { "$BIN/fedlearn-coordinator" --config "$W/coordinator.toml" --certs "$W/certs" \
  --listen "127.0.0.1:$1" --state-dir "$W/state" --linger-s 4 >"$W/$2.out" 2>"$W/$2.err" & CPID=$!; }
coord 0 c1
for i in $(seq 600); do grep -q "listening on port" "$W/c1.out" && break; sleep 0.1; done
PORT=$(grep -o "listening on port [0-9]*" "$W/c1.out" | awk '{print $4}')
for i in 0 1 2; do
  id=client-00$((i+1))
  "$BIN/fedlearn-client" --coordinator 127.0.0.1:$PORT --server-name localhost --certs "$W/certs" \
    --id $id --data fashion-mnist --partition iid --num-partitions 30 --partition-index $i \
    --partition-seed 5 --model logreg >"$W/$id.out" 2>"$W/$id.err" & PIDS+=($!)
done
for i in $(seq 1200); do grep -q "round   1/3" "$W/c1.out" "$W/c1.err" && break; sleep 0.1; done
kill -9 $CPID; wait $CPID 2>/dev/null
sleep "$OUTAGE"
coord $PORT c2
for i in $(seq 900); do [ "$(grep -c ' registered (' "$W/c2.err")" -ge 3 ] && break; sleep 0.1; done
python3 - "$W/c2.err" <<'PY'
import re, sys, datetime
def t(line): return datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S.%f")
t0 = None
for line in open(sys.argv[1]):
    if "coordinator listening on port" in line: t0 = t(line)
    m = re.search(r"client (client-\d+) registered \(", line)
    if m and t0: print("%s re-registered %.2f s after the restarted coordinator listened" % (m.group(1), (t(line) - t0).total_seconds()))
PY
wait $CPID; echo "coordinator exit $?"
for p in "${PIDS[@]}"; do wait $p; echo "client exit $?"; done

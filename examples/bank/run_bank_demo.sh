#!/bin/sh
# The bank example as a real five-site deployment on one machine: a
# coordinator and five fedlearn-client processes (bank-1 ... bank-5, each
# with only its own CSV) over mutual TLS on 127.0.0.1, secure aggregation
# on, federated evaluation every round (examples/bank/bank.toml). Prints
# the federated PR-AUC, accuracy and worst-bank accuracy of every
# evaluation, then writes the run report (fedlearn-report).
#
#   examples/bank/run_bank_demo.sh [BUILD_DIR] [WORK_DIR] [ROUNDS]
#
# BUILD_DIR defaults to build, WORK_DIR (certificates, state, client logs)
# to bank-demo, ROUNDS to bank.toml's. Run from the repository root.
# Exits non-zero if any process fails (a bank that cannot take part stops
# the coordinator too; an interrupt stops them all).
set -eu

build=${1:-build}
work=${2:-bank-demo}
rounds=${3:-}
bin="$build/bin"
here=$(dirname "$0")

rm -rf "$work/state" "$work/logs"
mkdir -p "$work/logs"
"$bin/fedlearn-certs" init --out "$work/certs" \
  --client-id bank-1 --client-id bank-2 --client-id bank-3 \
  --client-id bank-4 --client-id bank-5 >/dev/null

set -- --config "$here/bank.toml" --certs "$work/certs" \
  --listen 127.0.0.1:0 --state-dir "$work/state" --linger-s 3
[ -n "$rounds" ] && set -- "$@" --rounds "$rounds"
"$bin/fedlearn-coordinator" "$@" >"$work/logs/coordinator.out" \
  2>"$work/logs/coordinator.log" &
coordinator=$!
clients=""
# On an interrupt or an early failure, stop what this script started.
trap 'kill $coordinator $clients 2>/dev/null' EXIT
trap 'exit 130' INT TERM

port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' \
    "$work/logs/coordinator.out")
  [ -n "$port" ] && break
  kill -0 "$coordinator" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "the coordinator did not start:" >&2
  cat "$work/logs/coordinator.log" >&2
  exit 1
fi
echo "coordinator on 127.0.0.1:$port; five banks joining (logs in $work/logs)"

for k in 1 2 3 4 5; do
  "$bin/fedlearn-client" --coordinator "127.0.0.1:$port" \
    --server-name localhost --certs "$work/certs" --id "bank-$k" \
    --data csv --data-path "$here/bank-$k.csv" \
    --state-dir "$work/bank-$k-state" --max-failures 40 \
    >"$work/logs/bank-$k.out" 2>"$work/logs/bank-$k.log" &
  clients="$clients $!"
done

status=0
for pid in $clients; do
  wait "$pid" || status=1
done
# A bank that stopped leaves the coordinator waiting for it: stop it.
[ "$status" = 0 ] || kill "$coordinator" 2>/dev/null || true
wait "$coordinator" || status=1
trap - EXIT
if [ "$status" != 0 ]; then
  echo "a process failed; see $work/logs/" >&2
  tail -n 20 "$work/logs/coordinator.log" >&2
  exit 1
fi

python3 "$here/print_evaluations.py" "$work/state"
"$bin/fedlearn-report" "$work/state"

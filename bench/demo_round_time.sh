#!/usr/bin/env bash
# Seconds per round of `make demo`'s configuration (deploy/dp-demo.toml:
# 1,000 virtual clients, ~100 per round, logistic regression, distributed DP
# + secure aggregation over mutual TLS), and where a round's time goes.
#
#   bench/demo_round_time.sh [ROUNDS] [CONFIG] [SIM]
#
# ROUNDS (default 8) rounds of CONFIG (default deploy/dp-demo.toml) run in
# one fedlearn-sim (SIM, default build/bin/fedlearn-sim) with the Prometheus
# endpoint on a loopback port; everything else is the config's. Prints the
# mean seconds per round over rounds 2..ROUNDS (round 1 pays the clients'
# first connections), from the unix_ms of consecutive metrics.jsonl lines,
# and the coordinator's phase durations (fedlearn_round_phase_duration_seconds)
# over the same rounds: the difference of two scrapes, one when round 1 is
# released and one after the last. "between rounds" is the period minus the
# phases (release done -> next round's cohort selected).
#
# The last scrape is left in $DEMO_BENCH_DIR/metrics.txt, the run's output
# in sim.log.
#
# Certificates are issued once into $DEMO_BENCH_DIR/certs (default
# /tmp/fedlearn-demo-bench) and reused; state is fresh on every run.
set -euo pipefail

rounds="${1:-8}"
config="${2:-deploy/dp-demo.toml}"
sim="${3:-build/bin/fedlearn-sim}"
dir="${DEMO_BENCH_DIR:-/tmp/fedlearn-demo-bench}"
py=/usr/bin/python3
# shellcheck source=bench/toml_overrides.sh
source "$(dirname "$0")/toml_overrides.sh"

if [[ "$rounds" -lt 3 ]]; then
  echo "ROUNDS must be at least 3" >&2
  exit 1
fi
mkdir -p "$dir"
rm -rf "$dir/state" "$dir/run.toml" "$dir/sim.log"
if ! grep -q '^\[metrics\]' "$config"; then
  { cat "$config"; printf '\n[metrics]\nlisten = ""\nlinger_s = 0.0\n'; } \
    >"$dir/base.toml"
else
  cp "$config" "$dir/base.toml"
fi
write_config "$dir/base.toml" \
  "run.rounds=$rounds;metrics.listen=\"127.0.0.1:0\";metrics.linger_s=3.0" \
  "$dir/run.toml"

"$sim" --config "$dir/run.toml" --state-dir "$dir/state" \
  --certs "$dir/certs" >"$dir/sim.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

"$py" - "$dir" "$rounds" "$pid" <<'EOF'
import json, os, re, sys, time, urllib.request

d, rounds, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
log, metrics_path = os.path.join(d, "sim.log"), os.path.join(d, "state", "metrics.jsonl")

def lines():
    try:
        with open(metrics_path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError):
        return []

def scrape(url):
    try:
        text = urllib.request.urlopen(url + "/metrics", timeout=2).read().decode()
    except OSError:
        return None
    with open(os.path.join(d, "metrics.txt"), "w") as f:
        f.write(text)
    sums = {}
    for m in re.finditer(
            r'^fedlearn_round_phase_duration_seconds_sum\{phase="([^"]+)"\} (\S+)',
            text, re.M):
        sums[m.group(1)] = float(m.group(2))
    done = re.search(r'^fedlearn_rounds_completed_total (\S+)', text, re.M)
    return (int(float(done.group(1))) if done else 0), sums

url = None
while url is None:
    try:
        m = re.search(r"metrics on (http://[^/\s]+)", open(log).read())
    except OSError:
        m = None
    if m:
        url = m.group(1).rstrip("/")
    elif not os.path.exists(f"/proc/{pid}"):
        sys.exit("fedlearn-sim ended before its metrics endpoint came up:\n" +
                 open(log).read()[-2000:])
    else:
        time.sleep(0.1)

first = last = None
while True:
    s = scrape(url)
    if s is not None:
        if first is None and s[0] >= 1:
            first = s
        if s[0] >= 1:
            last = s
        if s[0] >= rounds:
            break
    if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
        break
    time.sleep(0.05)

ls = lines()
if len(ls) < rounds or first is None or last is None:
    sys.exit(f"run ended after {len(ls)} of {rounds} rounds; log tail:\n" +
             open(log).read()[-2000:])
if first[0] != 1:
    print(f"note: first scrape after round {first[0]}, phases cover rounds "
          f"{first[0] + 1}..{last[0]}")
n = last[0] - first[0]
ms = [l["unix_ms"] for l in ls]
per_round = (ms[-1] - ms[0]) / 1000.0 / (len(ms) - 1)
periods = [(b - a) / 1000.0 for a, b in zip(ms, ms[1:])]
cohort = sum(l["participants"] for l in ls[1:]) / (len(ls) - 1)
print(f"demo round time: {per_round:.3f} s/round (mean of rounds 2..{len(ls)}; "
      f"min {min(periods):.3f}, max {max(periods):.3f}; "
      f"{cohort:.0f} participants/round)")
phases = sorted(set(last[1]) | set(first[1]),
                key=lambda p: ["Training", "AdvertiseKeys", "ShareKeys",
                               "MaskedInputCollection", "ConsistencyCheck",
                               "Unmasking", "Releasing"].index(p)
                if p in ["Training", "AdvertiseKeys", "ShareKeys",
                         "MaskedInputCollection", "ConsistencyCheck",
                         "Unmasking", "Releasing"] else 99)
total = 0.0
print(f"{'phase (coordinator)':<24}{'s/round':>9}{'share':>8}")
for p in phases:
    v = (last[1].get(p, 0.0) - first[1].get(p, 0.0)) / n
    total += v
    print(f"{p:<24}{v:>9.3f}{100 * v / per_round:>7.1f}%")
# Last phase of the last round may still be open at the final scrape: the
# remainder is the time outside any phase plus that.
rest = per_round - total
print(f"{'between rounds':<24}{rest:>9.3f}{100 * rest / per_round:>7.1f}%")
EOF
wait "$pid" || true
trap - EXIT

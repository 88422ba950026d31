#!/usr/bin/env python3
"""A real Prometheus server scrapes a real coordinator.

Runs fedlearn-sim (10 virtual clients, secure aggregation with distributed
DP, 3 rounds, [metrics] listen = "127.0.0.1:0", linger_s so the final values
stay up), starts Debian's `prometheus` with a 1 s scrape interval pointing at
the port the coordinator printed, waits until Prometheus reports the target
up, then asks Prometheus's HTTP API for what it scraped and compares it with
the run's own record (metrics.jsonl). Every process is killed and every
temporary directory removed at the end, pass or fail.

Usage: prometheus_scrape_test.py BUILD_BIN_DIR
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
CLIENTS = 10
ROUNDS = 3
SECURE_PHASES = ["Training", "AdvertiseKeys", "ShareKeys",
                 "MaskedInputCollection", "ConsistencyCheck", "Unmasking",
                 "Releasing"]

SIM_CONFIG = f"""
[run]
id = "prometheus-e2e"
rounds = {ROUNDS}
seed = 5
[rounds]
min_clients = {CLIENTS}
min_updates = 3
timeout_s = 60
[model]
architecture = "logreg"
[training]
learning_rate = 0.1
momentum = 0.0
batch_size = 64
[evaluation]
dataset = "fashion-mnist"
[secagg]
enabled = true
phase_timeout_s = 10
[dp]
mode = "distributed"
noise_multiplier = 1.0
delta = 1e-5
sampling_rate = 0.8
clip_norm = 1.0
[simulation]
clients = {CLIENTS}
partition = "iid"
workers = 2
[metrics]
listen = "127.0.0.1:0"
linger_s = 40
"""

PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: fedlearn-coordinator
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


class Failure(Exception):
    pass


def wait_for(what, predicate, timeout_s, interval_s=0.25):
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # not yet: connection refused, bad JSON...
            last_error = e
        time.sleep(interval_s)
    raise Failure(f"timed out after {timeout_s} s waiting for {what}"
                  + (f" (last error: {last_error})" if last_error else ""))


def listening_port(pid):
    """The TCP port process `pid` listens on, from /proc (it bound :0)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    return int(fields[1].rsplit(":", 1)[1], 16)
    return None


class Output:
    """Collects a process's stdout lines on a thread."""

    def __init__(self, process):
        self.lines = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(process,),
                                        daemon=True)
        self._thread.start()

    def _read(self, process):
        for line in process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def find(self, pattern):
        with self._lock:
            for line in self.lines:
                m = re.search(pattern, line)
                if m:
                    return m
        return None

    def text(self):
        with self._lock:
            return "\n".join(self.lines)


def api(prom_port, path, **params):
    url = f"http://127.0.0.1:{prom_port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise Failure(f"{url}: {body}")
    return body["data"]


def query(prom_port, expr):
    """{frozenset(labels minus __name__): float value} of an instant query."""
    data = api(prom_port, "/api/v1/query", query=expr)
    out = {}
    for r in data["result"]:
        labels = {k: v for k, v in r["metric"].items()
                  if k not in ("__name__", "instance", "job")}
        out[frozenset(labels.items())] = float(r["value"][1])
    return out


def scalar(prom_port, expr):
    values = query(prom_port, expr)
    if len(values) != 1:
        raise Failure(f"{expr}: expected one series, got {values}")
    return next(iter(values.values()))


def check_scraped_values(prom_port, rounds):
    """Compares what Prometheus scraped with metrics.jsonl; [] when equal."""
    last = rounds[-1]
    expected = {
        "fedlearn_rounds_completed_total": len(rounds),
        "fedlearn_model_version": last["model_version"],
        "fedlearn_clients_participating": last["participants"],
        "fedlearn_clients_selected": last["selected"],
        "fedlearn_clients_dropped": len(last["dropped"]),
        "fedlearn_clients_registered": CLIENTS,
        "fedlearn_updates_aggregated_total":
            sum(r["participants"] for r in rounds),
        "fedlearn_round_duration_seconds_count": len(rounds),
        "fedlearn_test_accuracy": last["test_accuracy"],
        "fedlearn_test_loss": last["test_loss"],
        "fedlearn_dp_epsilon_spent": last["dp"]["epsilon"],
        "fedlearn_dp_delta": last["dp"]["delta"],
        "fedlearn_dp_clip_norm": last["dp"]["next_clip_norm"],
        "fedlearn_dp_noise_multiplier": last["dp"]["noise_multiplier"],
        "fedlearn_rounds_configured": ROUNDS,
        "fedlearn_run_failed": 0,
        "up": 1,
    }
    mismatches = []
    for name, want in expected.items():
        got = scalar(prom_port, name)
        if got != want:
            mismatches.append(f"{name}: scraped {got!r}, run says {want!r}")
    info = query(prom_port, "fedlearn_run_info")
    want_info = frozenset({("run_id", "prometheus-e2e"),
                           ("aggregation", "secure"),
                           ("dp", "distributed")})
    if info != {want_info: 1.0}:
        mismatches.append(f"fedlearn_run_info: {info}")
    # Every released secure round went through every phase once (attempts
    # that failed would add more, never fewer).
    phases = query(prom_port, "fedlearn_round_phase_duration_seconds_count")
    for phase in SECURE_PHASES:
        got = phases.get(frozenset({("phase", phase)}), 0)
        if got < len(rounds):
            mismatches.append(f"phase {phase}: {got} observations")
    for series in ('fedlearn_rpc_received_bytes_total{rpc="PushResult"}',
                   'fedlearn_rpc_sent_bytes_total{rpc="FetchTask"}',
                   'fedlearn_rpc_received_bytes_total{rpc="SecAggExchange"}'):
        if scalar(prom_port, series) <= 0:
            mismatches.append(f"{series} is not positive")
    return mismatches


def stop(process):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(bin_dir, tmp):
    sim = prom = None
    sim_out = None
    try:
        with open(os.path.join(tmp, "sim.toml"), "w") as f:
            f.write(SIM_CONFIG)
        state = os.path.join(tmp, "state")
        sim = subprocess.Popen(
            [os.path.join(bin_dir, "fedlearn-sim"), "--config",
             os.path.join(tmp, "sim.toml"), "--state-dir", state],
            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "sim.err"),
                                                "w"),
            text=True)
        sim_out = Output(sim)
        m = wait_for("the coordinator's 'metrics on' line",
                     lambda: sim_out.find(
                         r"^metrics on http://127\.0\.0\.1:(\d+)/metrics$")
                     or (sim.poll() is not None and
                         Failure(f"fedlearn-sim exited {sim.returncode}")),
                     60)
        if isinstance(m, Failure):
            raise m
        metrics_port = int(m.group(1))

        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(PROMETHEUS_CONFIG.format(port=metrics_port))
        prom = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "prometheus.err"), "w"))
        prom_port = wait_for("Prometheus to listen",
                             lambda: listening_port(prom.pid), 30)
        wait_for("Prometheus to report the target up",
                 lambda: any(t["health"] == "up" for t in
                             api(prom_port, "/api/v1/targets")
                             ["activeTargets"]), 30)

        metrics_jsonl = os.path.join(state, "metrics.jsonl")
        rounds = wait_for(
            f"{ROUNDS} rounds in metrics.jsonl",
            lambda: (lambda rs: rs if len(rs) == ROUNDS else None)(
                [json.loads(l) for l in open(metrics_jsonl)
                 if l.strip()]), 90)
        # Until a scrape after the last round arrives (or the deadline).
        mismatches = None

        def scraped_the_end():
            nonlocal mismatches
            mismatches = check_scraped_values(prom_port, rounds)
            return not mismatches
        try:
            wait_for("Prometheus to hold the run's final values",
                     scraped_the_end, 20, interval_s=0.5)
        except Failure as e:
            raise Failure(f"{e}:\n  " + "\n  ".join(mismatches or []))
        print(f"Prometheus scraped {len(rounds)} rounds from port "
              f"{metrics_port}: epsilon {rounds[-1]['dp']['epsilon']}, "
              f"test accuracy {rounds[-1]['test_accuracy']}, "
              f"participants {rounds[-1]['participants']}")
        return 0
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        if sim_out is not None:
            print("--- fedlearn-sim stdout:\n" + sim_out.text(), file=sys.stderr)
        for name in ("sim.err", "prometheus.err"):
            path = os.path.join(tmp, name)
            if os.path.exists(path):
                with open(path) as f:
                    tail = f.read()[-3000:]
                print(f"--- {name} (tail):\n{tail}", file=sys.stderr)
        return 1
    finally:
        stop(sim)
        stop(prom)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.access(PROMETHEUS, os.X_OK):
        print(f"FAIL: {PROMETHEUS} not found: install Debian's prometheus "
              "(make deps)", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="fedlearn-prometheus-")
    try:
        return run(sys.argv[1], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

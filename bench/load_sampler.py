#!/usr/bin/python3
"""Samples one process for bench/load_bench.sh: CPU seconds, VmHWM, threads.

Usage: load_sampler.py PID METRICS_JSONL OUT_JSON [IDLE_FROM_S IDLE_FOR_S]

Every 0.2 s it reads /proc/PID/stat (utime + stime), /proc/PID/status
(VmHWM, Threads) and the number of lines in METRICS_JSONL; it records the
CPU seconds at each new metrics line (a round's end). With IDLE_FROM_S it
instead measures the CPU used between IDLE_FROM_S and IDLE_FROM_S +
IDLE_FOR_S after it started (no round may run then) and exits. Writes
OUT_JSON when the process ends (or the idle window closes).
"""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


def lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def main():
    pid, metrics, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    idle = len(sys.argv) > 5
    start = time.monotonic()
    record = {"round_end_cpu_s": [], "round_end_t": [], "vmhwm_kb": 0,
              "max_threads": 0}
    seen = 0
    idle_start_cpu = None
    while True:
        try:
            cpu = cpu_seconds(pid)
            st = status(pid)
        except (OSError, IndexError, ValueError):
            break
        record["vmhwm_kb"] = max(record["vmhwm_kb"], st.get("VmHWM", 0))
        record["max_threads"] = max(record["max_threads"], st.get("Threads", 0))
        now = time.monotonic() - start
        if idle:
            begin, length = float(sys.argv[4]), float(sys.argv[5])
            if idle_start_cpu is None and now >= begin:
                idle_start_cpu, idle_t0 = cpu, now
                record["threads_at_idle_start"] = st.get("Threads", 0)
            if idle_start_cpu is not None and now >= begin + length:
                record["idle_cpu_percent"] = (
                    100.0 * (cpu - idle_start_cpu) / (now - idle_t0))
                record["idle_window_s"] = now - idle_t0
                record["rounds_during_idle"] = lines(metrics)
                break
        else:
            n = lines(metrics)
            while seen < n:
                seen += 1
                record["round_end_cpu_s"].append(cpu)
                record["round_end_t"].append(now)
        time.sleep(0.2)
    with open(out, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()

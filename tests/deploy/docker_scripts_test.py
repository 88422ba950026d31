#!/usr/bin/python3
"""Runs the scripts the images carry (deploy/docker) on this machine.

Usage: docker_scripts_test.py SOURCE_DIR CASE [BUILD_DIR]
  healthcheck   fedlearn-healthcheck exits 0 for HTTP 200 and 1 for 503, for
                an unanswered request and for a closed port (a real HTTP
                server on 127.0.0.1, port chosen by the OS)
  pool-ranges   fedlearn-sim-pool: the P pools' --client-range values cover
                0..N-1 exactly once (sizes within one), the flags it passes,
                bad input and a CA directory without ca.key refused
  shellcheck    shellcheck passes on both scripts
  real-programs the shipped sample configurations start the real programs
                as the pods run them (deploy/k8s/coordinator/coordinator.toml
                with fedlearn-coordinator, deploy/k8s/scale-out/sim.toml with
                fedlearn-sim --coordinator-only; metrics on 127.0.0.1:0),
                fedlearn-healthcheck passes /healthz and /readyz against them,
                and each exits 0 on SIGTERM well inside the pods'
                terminationGracePeriodSeconds
"""

import http.server
import ipaddress
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

HEALTHCHECK = "deploy/docker/fedlearn-healthcheck"
STARTED = []  # programs started by real-programs: none outlives the test
POOL = "deploy/docker/fedlearn-sim-pool"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/silent":
            return  # closes the connection without a status line
        code = {"/healthz": 200, "/readyz": 503}.get(self.path, 404)
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok\n" if code == 200 else b"no\n")

    def log_message(self, *args):
        pass


def probe(src, port, path=None):
    env = dict(os.environ, FEDLEARN_METRICS_PORT=str(port))
    args = [os.path.join(src, HEALTHCHECK)] + ([path] if path else [])
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30).returncode


def case_healthcheck(src):
    errors = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        for path, want in ((None, 0), ("/healthz", 0), ("/readyz", 1), ("/missing", 1),
                           ("/silent", 1)):
            got = probe(src, port, path)
            print(f"GET {path or '/healthz (default)'}: exit {got}")
            if got != want:
                errors.append(f"GET {path}: exit {got}, want {want}")
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    got = probe(src, closed)
    print(f"closed port: exit {got}")
    if got != 1:
        errors.append(f"closed port: exit {got}, want 1")
    return errors


def pool(src, ca, index, pools, clients, extra=()):
    env = {"PATH": os.environ["PATH"], "JOB_COMPLETION_INDEX": str(index),
           "FEDLEARN_SIM_POOLS": str(pools), "FEDLEARN_SIM_CLIENTS": str(clients),
           "FEDLEARN_COORDINATOR": "fedlearn-coordinator:7443", "FEDLEARN_SIM_BIN": "echo",
           "FEDLEARN_SIM_CERTS": ca, "FEDLEARN_SIM_CONFIG": "/etc/fedlearn/sim.toml"}
    return subprocess.run([os.path.join(src, POOL)] + list(extra), env=env,
                          capture_output=True, text=True, timeout=30)


def check_cover(src, ca, pools, clients, errors):
    ranges = []
    for i in range(pools):
        out = pool(src, ca, i, pools, clients)
        if out.returncode != 0:
            errors.append(f"N={clients} P={pools} i={i}: exit {out.returncode}: {out.stderr}")
            return
        words = out.stdout.split()
        if not words:
            continue  # a pool with no clients runs nothing
        a, b = words[words.index("--client-range") + 1].split(":")
        ranges.append((int(a), int(b)))
    sizes = [b - a for a, b in ranges]
    covered = [c for a, b in ranges for c in range(a, b)]
    if covered != list(range(clients)) or (sizes and max(sizes) - min(sizes) > 1):
        errors.append(f"N={clients} P={pools}: ranges {ranges[:3]}... do not tile 0..{clients - 1}")
    else:
        print(f"N={clients} P={pools}: {len(ranges)} ranges tile 0..{clients - 1}, sizes {min(sizes)}-{max(sizes)}")


def case_pool_ranges(src):
    errors = []
    with tempfile.TemporaryDirectory(prefix="fedlearn-pool-test.") as tmp:
        ca = os.path.join(tmp, "secret")
        os.mkdir(ca)
        for f in ("ca.pem", "ca.key"):
            with open(os.path.join(ca, f), "w") as fh:
                fh.write(f"{f}\n")
            os.chmod(os.path.join(ca, f), 0o400)
        for pools, clients in ((100, 60000), (100, 100000), (3, 10), (7, 1000), (10, 7), (1, 1)):
            check_cover(src, ca, pools, clients, errors)
        out = pool(src, ca, 0, 2, 10, ["--log-format", "json"])
        want = ("--config /etc/fedlearn/sim.toml --clients-only --coordinator "
                f"fedlearn-coordinator:7443 --client-range 0:5 --certs {ca} --log-format json")
        if out.stdout.strip() != want:
            errors.append(f"command line {out.stdout.strip()!r}, want {want!r}")
        if sorted(os.listdir(ca)) != ["ca.key", "ca.pem"]:
            errors.append("the pool script wrote into the CA directory")
        for index, pools, clients in ((2, 2, 10), ("x", 2, 10), (0, 0, 10), (0, 2, "-1")):
            bad = pool(src, ca, index, pools, clients)
            if bad.returncode != 64:
                errors.append(f"i={index} P={pools} N={clients}: exit {bad.returncode}, want 64")
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        if pool(src, empty, 0, 2, 10).returncode != 64:
            errors.append("a certificate directory without ca.key was accepted")
    return errors


def case_shellcheck(src):
    out = subprocess.run(["shellcheck", os.path.join(src, HEALTHCHECK), os.path.join(src, POOL)],
                         capture_output=True, text=True, check=False)
    print(out.stdout)
    return [] if out.returncode == 0 else ["shellcheck reported problems"]


def start(cmd, cwd, want_grpc=False):
    """Starts a program; returns it, its metrics port and gRPC port (from
    the lines it prints; None if it printed none within 60 s) and its log."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    STARTED.append(proc)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)],
                     daemon=True).start()
    log, port, grpc = [], None, None
    deadline = time.monotonic() + 60
    while (port is None or (grpc is None and want_grpc)) and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        log.append(line)
        m = re.search(r"metrics (?:endpoint )?on (?:http://127\.0\.0\.1:|port )(\d+)", line)
        port = int(m.group(1)) if m else port
        m = re.match(r"listening on port (\d+)", line)
        grpc = int(m.group(1)) if m else grpc
    return proc, port, "".join(log), grpc


def probe_and_stop(src, name, proc, port, log, grace_s):
    """/healthz and /readyz (ready within 20 s) pass, then SIGTERM exits 0."""
    errors = []
    if port is None:
        proc.kill()
        proc.wait()
        return [f"{name}: no metrics port in its output:\n{log}"]
    for path in ("/healthz", "/readyz"):
        deadline = time.monotonic() + 20
        while (got := probe(src, port, path)) != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        print(f"{name}: fedlearn-healthcheck {path}: exit {got}")
        if got != 0:
            errors.append(f"{name}: {path} probe exit {got}")
    started = time.monotonic()
    proc.terminate()
    try:
        code = proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return errors + [f"{name}: still running {grace_s} s after SIGTERM"]
    print(f"{name}: SIGTERM -> exit {code} in {time.monotonic() - started:.2f} s")
    if code != 0:
        errors.append(f"{name}: exit {code} on SIGTERM, want 0")
    return errors


def certs(bindir, *args):
    out = subprocess.run([os.path.join(bindir, "fedlearn-certs")] + list(args),
                         capture_output=True, text=True, check=False)
    return [] if out.returncode == 0 else [f"fedlearn-certs {args[0]}: {out.stderr}"]


def case_real_programs(src, build):
    src, build = os.path.abspath(src), os.path.abspath(build)
    bindir, errors = os.path.join(build, "bin"), []
    with tempfile.TemporaryDirectory(prefix="fedlearn-real-programs.") as tmp:
        project = os.path.join(tmp, "project.toml")
        with open(project, "w") as f:
            f.write('[project]\nname = "k8s-sample"\n[coordinator]\n'
                    'dns_names = ["fedlearn-coordinator"]\n'
                    f'base_config = "{src}/examples/hospital/hospital.toml"\n'
                    '[sites]\nids = ["hospital-a"]\n')
        errors += certs(bindir, "kits", "--project", project, "--out", os.path.join(tmp, "fed"))
        if errors:
            return errors
        kit = os.path.join(tmp, "fed", "kits", "coordinator")
        text = open(os.path.join(src, "deploy/k8s/coordinator/coordinator.toml")).read()
        with open(os.path.join(tmp, "coordinator.toml"), "w") as f:
            f.write(text.replace("/etc/fedlearn/certs/", kit + "/"))
        coord, port, log, grpc = start(
            [os.path.join(bindir, "fedlearn-coordinator"), "--config", "coordinator.toml",
             "--certs", kit, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
            tmp, want_grpc=True)
        # The site sample, against that coordinator, with the hospital data.
        text = open(os.path.join(src, "deploy/k8s/site/client.toml")).read()
        text = re.sub(r'address = ".*"', f'address = "127.0.0.1:{grpc}"', text)
        text = text.replace("/etc/fedlearn/certs", os.path.join(tmp, "fed/kits/hospital-a"))
        text = text.replace("/data/cohort.csv", f"{src}/examples/hospital/breast_cancer.csv")
        with open(os.path.join(tmp, "client.toml"), "w") as f:
            f.write(text)
        client, cport, clog, _ = start(
            [os.path.join(bindir, "fedlearn-client"), "--config", "client.toml",
             "--server-name", "fedlearn-coordinator", "--state-dir", os.path.join(tmp, "site"),
             "--metrics-listen", "127.0.0.1:0"], tmp)
        errors += probe_and_stop(src, "fedlearn-client", client, cport, clog, 30)
        errors += probe_and_stop(src, "fedlearn-coordinator", coord, port, log, 60)
        ca = os.path.join(tmp, "sim-ca")
        errors += certs(bindir, "init", "--out", ca, "--server-dns", "fedlearn-coordinator")
        if errors:
            return errors
        text = open(os.path.join(src, "deploy/k8s/scale-out/sim.toml")).read()
        # The pod's probes need the metrics port on every interface; this
        # test serves it on loopback only.
        shipped = tomllib.loads(text).get("metrics", {}).get("listen", "")
        host, _, mport = shipped.rpartition(":")
        if not host or not ipaddress.ip_address(host).is_unspecified or mport != "9464":
            return errors + [f"sim.toml: [metrics] listen is {shipped!r}, not all "
                             "interfaces on port 9464 (the probes)"]
        with open(os.path.join(tmp, "sim.toml"), "w") as f:
            f.write(text.replace(f'listen = "{shipped}"', 'listen = "127.0.0.1:0"'))
        proc, port, log, _ = start([os.path.join(bindir, "fedlearn-sim"), "--coordinator-only",
                                 "--config", "sim.toml", "--certs", ca, "--state-dir",
                                 os.path.join(tmp, "scale-out"), "--listen", "127.0.0.1:0"], tmp)
        errors += probe_and_stop(src, "fedlearn-sim --coordinator-only", proc, port, log, 60)
    return errors


def main(argv):
    cases = {"healthcheck": case_healthcheck, "pool-ranges": case_pool_ranges,
             "shellcheck": case_shellcheck}
    if len(argv) == 4 and argv[2] == "real-programs":
        try:
            errors = case_real_programs(argv[1], argv[3])
        finally:
            for proc in STARTED:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    elif len(argv) != 3 or argv[2] not in cases:
        print(__doc__)
        return 2
    else:
        errors = cases[argv[2]](argv[1])
    for e in errors:
        print("FAIL", e)
    print("PASS" if not errors else "FAILED")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

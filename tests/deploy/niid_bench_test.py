#!/usr/bin/python3
"""Checks bench/niid_bench.sh and deploy/niid-bench.toml without training.

Usage: niid_bench_test.py SOURCE_DIR BUILD_DIR CASE
  help       --help exits 0 with the usage; an unknown option, an unknown
             strategy, a non-integer --rounds and a --mu without a point
             (not a TOML float) exit 2
  shellcheck shellcheck passes on the script and its config writer
  configs    --dry-run writes one config per strategy x secure aggregation;
             each differs from deploy/niid-bench.toml in exactly the keys
             its run sets (and --quick / --per-site in theirs), every key
             is one fedlearn-sim knows (its --print-config reference), and
             the base config holds the NIID-Bench protocol
  summarize  --summarize reads fixture metrics.jsonl / evaluation.jsonl:
             the last attempt of a retried round, final and best accuracy,
             the final evaluation's exact spread (plaintext), its bin
             midpoints marked "(bin)" (secure), and the exact minimum and
             numpy's p10 from the per-site table (secure with per_site)
"""

import json
import os
import subprocess
import sys
import tempfile
import tomllib

SCRIPT = "bench/niid_bench.sh"
BASE = "deploy/niid-bench.toml"


def run(src, *args):
    return subprocess.run(["bash", os.path.join(src, SCRIPT), *args], cwd=src,
                          capture_output=True, text=True, timeout=60)


def case_help(src, _build):
    errors = []
    out = run(src, "--help")
    if out.returncode != 0 or not out.stdout.startswith("usage: bench/niid_bench.sh"):
        errors.append(f"--help: exit {out.returncode}, stdout {out.stdout[:80]!r}")
    with tempfile.TemporaryDirectory() as tmp:
        for bad in (["--no-such-flag"], ["--strategies", "fedsgd"], ["--rounds", "x"],
                    ["--mu", "1"], ["--secagg", "maybe"]):
            out = run(src, *bad, "--dry-run", os.path.join(tmp, "configs"))
            if out.returncode != 2:
                errors.append(f"{bad}: exit {out.returncode}, want 2")
    return errors


def case_shellcheck(src, _build):
    out = subprocess.run(["shellcheck", os.path.join(src, SCRIPT),
                          os.path.join(src, "bench/toml_overrides.sh")],
                         capture_output=True, text=True)
    return [] if out.returncode == 0 else ["shellcheck: " + out.stdout[-2000:]]


def flatten(doc):
    return {f"{sec}.{key}": value for sec, table in doc.items()
            for key, value in table.items()}


def load(path):
    with open(path, "rb") as f:
        return flatten(tomllib.load(f))


def case_configs(src, build):
    errors = []
    base = load(os.path.join(src, BASE))
    protocol = {"run.rounds": 50, "rounds.clients_per_round": 10,
                "simulation.clients": 10, "simulation.partition": "dirichlet:0.5",
                "simulation.dataset": "fashion-mnist", "model.architecture": "lenet5",
                "training.optimizer": "sgd", "training.learning_rate": 0.01,
                "training.momentum": 0.9, "training.weight_decay": 1e-5,
                "training.local_epochs": 10, "training.batch_size": 64,
                "evaluation.every": 10, "evaluation.final": True,
                "evaluation.per_site": False, "secagg.enabled": True,
                "strategy.name": "fedavg"}
    for key, want in protocol.items():
        if base.get(key) != want:
            errors.append(f"{BASE}: {key} = {base.get(key)!r}, want {want!r}")
    ref = subprocess.run([os.path.join(build, "bin", "fedlearn-sim"), "--print-config"],
                         capture_output=True, text=True, timeout=60)
    if ref.returncode != 0:
        return errors + [f"fedlearn-sim --print-config: exit {ref.returncode} (build fedlearn-sim)"]
    known = set(flatten(tomllib.loads(ref.stdout)))
    adam = {"strategy.name": "fedadam", "strategy.eta": 0.01, "strategy.tau": 0.001}
    runs = {"fedavg": {}, "fedprox": {"training.proximal_mu": 0.01}, "fedadam": adam}
    plans = [([], runs, {}),
             (["--quick", "--per-site"], {k: runs[k] for k in ("fedavg", "fedadam")},
              {"training.local_epochs": 1, "evaluation.per_site": True})]
    for flags, strategies, extra in plans:
        with tempfile.TemporaryDirectory() as tmp:
            out = run(src, *flags, "--dry-run", tmp)
            if out.returncode != 0:
                errors.append(f"--dry-run {flags}: exit {out.returncode}: {out.stderr[-500:]}")
                continue
            names = sorted(n for n in os.listdir(tmp) if n.endswith(".toml")
                           and n != "niid-bench.base.toml")
            want_names = sorted(f"{s}-secagg-{m}.toml" for s in strategies for m in ("on", "off"))
            if names != want_names:
                errors.append(f"--dry-run {flags}: configs {names}, want {want_names}")
            for s, sets in strategies.items():
                for mode in ("on", "off"):
                    name = f"{s}-secagg-{mode}.toml"
                    if name not in names:
                        continue
                    got = load(os.path.join(tmp, name))
                    want = dict(base, **sets, **extra)
                    want["secagg.enabled"] = mode == "on"
                    if got != want:
                        diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want)
                                if got.get(k) != want.get(k)}
                        errors.append(f"{flags} {name}: (got, want) {diff}")
                    unknown = set(got) - known
                    if unknown:
                        errors.append(f"{name}: keys fedlearn-sim does not know: {unknown}")
    return errors


def write_state(tmp, metrics, evaluations):
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(m) + "\n" for m in metrics)
    with open(os.path.join(tmp, "evaluation.jsonl"), "w") as f:
        f.writelines(json.dumps({"kind": "evaluation", "federated_eval": e}) + "\n"
                     for e in evaluations)


def case_summarize(src, _build):
    errors = []
    # Round 2 was retried: its last attempt (0.60) counts, not the first (0.90).
    metrics = [{"round": 1, "test_accuracy": 0.5}, {"round": 2, "test_accuracy": 0.9},
               {"round": 2, "test_accuracy": 0.6}, {"round": 3, "test_accuracy": 0.55}]
    spread = {"min": 0.315, "p10": 0.36, "exact": False}
    sites = [0.9, 0.31, 0.5, 0.7, 0.41, 0.8, 0.66, 0.52, 0.37, 0.6]
    # Their p10, numpy's default (linear) quantile, from /usr/bin/python3:
    #   import numpy as np; np.quantile(sites, 0.1)  ->  0.364
    # (0.31 + 0.9 * (0.37 - 0.31)); the minimum is 0.31.
    cases = {
        "plaintext": ([dict(spread, min=0.31, p10=0.364, exact=True)],
                      "55.00%\t60.00% (round 2)\t31.00%\t36.40%\t10\t3"),
        "secure": ([dict(spread)], "55.00%\t60.00% (round 2)\t31.50% (bin)\t36.00% (bin)\t10\t3"),
        "per-site": ([dict(spread, per_site=[{"site": str(i), "accuracy": a}
                                              for i, a in enumerate(sites)])],
                     "55.00%\t60.00% (round 2)\t31.00%\t36.40%\t10\t3"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (evals, want) in cases.items():
            state = os.path.join(tmp, name)
            evs = [{"sites": 10, "accuracy_spread": {"min": 0.1, "p10": 0.1, "exact": True}}]
            for e in evals:
                per_site = e.pop("per_site", None)
                ev = {"sites": 10, "accuracy_spread": e}
                if per_site:
                    ev["per_site"] = per_site
                evs.append(ev)  # the last evaluation is the final model's
            write_state(state, metrics, evs)
            out = run(src, "--summarize", state)
            if out.returncode != 0 or out.stdout.strip("\n") != want:
                errors.append(f"{name}: exit {out.returncode}, got {out.stdout!r}, want {want!r}"
                              f" {out.stderr[-300:]}")
    return errors


def main(argv):
    cases = {"help": case_help, "shellcheck": case_shellcheck, "configs": case_configs,
             "summarize": case_summarize}
    if len(argv) != 4 or argv[3] not in cases:
        print(__doc__)
        return 2
    errors = cases[argv[3]](argv[1], argv[2])
    for e in errors:
        print("FAIL:", e)
    print("OK" if not errors else f"{len(errors)} failure(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

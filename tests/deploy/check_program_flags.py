#!/usr/bin/python3
"""Every command-line flag the deployment files pass to our programs exists:
each `--flag` in the Dockerfile's ENTRYPOINT/CMD, in the containers of every
rendered kustomization under deploy/k8s, in the scripts the images run
(fedlearn-sim-pool) and in the systemd units' ExecStart appears in that
program's `--help` (BUILD_DIR/bin/PROGRAM --help). A renamed or removed flag
fails here instead of in someone's cluster.

Usage: check_program_flags.py SOURCE_DIR BUILD_DIR [--self-test]
"""

import json
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_dockerfile  # noqa: E402  (same directory)
import check_k8s  # noqa: E402

FLAG = re.compile(r"^--[a-z0-9][a-z0-9-]*")
# Scripts an image runs in place of a program: program and the script whose
# sim_command=( ... ) array lists the flags it passes.
WRAPPERS = {"fedlearn-sim-pool": ("fedlearn-sim", "deploy/docker/fedlearn-sim-pool")}
IMAGE_ENTRYPOINT = {"fedlearn-coordinator": "fedlearn-coordinator",
                    "fedlearn-client": "fedlearn-client"}


def flags_in(words):
    return [FLAG.match(w).group(0) for w in words if FLAG.match(w)]


def wrapper_flags(src, script):
    text = open(os.path.join(src, script), encoding="utf-8").read()
    m = re.search(r"sim_command=\((.*?)\n\)", text, re.S)
    if not m:
        raise RuntimeError(f"{script}: no sim_command=( ... ) array")
    return flags_in(m.group(1).split())


def uses_of(program, words, where, src):
    """(program, flag, where) for a command line: program is a path or name."""
    name = os.path.basename(program)
    if name in WRAPPERS:
        target, script = WRAPPERS[name]
        return ([(target, f, f"{script} (via {where})") for f in wrapper_flags(src, script)] +
                [(target, f, where) for f in flags_in(words)])
    return [(name, f, where) for f in flags_in(words)]


def dockerfile_uses(src):
    text = open(os.path.join(src, check_dockerfile.DOCKERFILE), encoding="utf-8").read()
    stages = check_dockerfile.parse(text)
    uses = []
    for s in check_dockerfile.final_stages(stages):
        entry = json.loads(check_dockerfile.effective(stages, s, "ENTRYPOINT"))
        cmd = json.loads(check_dockerfile.effective(stages, s, "CMD") or "[]")
        uses += uses_of(entry[0], entry[1:] + cmd, f"Dockerfile stage {s.name}", src)
    return uses


def k8s_uses(src):
    uses = []
    for name in check_k8s.kustomizations(src):
        for w, pod in check_k8s.workloads(check_k8s.load(src, name)):
            for c in pod["spec"]["containers"]:
                where = f"deploy/k8s/{name} {w['kind']}/{w['metadata']['name']}"
                command = c.get("command") or []
                if command:
                    program, words = command[0], command[1:] + c.get("args", [])
                else:
                    image = c["image"].rsplit("/", 1)[-1].split(":")[0]
                    program, words = IMAGE_ENTRYPOINT.get(image, image), c.get("args", [])
                uses += uses_of(program, words, where, src)
    return uses


def systemd_uses(src):
    uses = []
    unit_dir = os.path.join(src, "deploy/systemd")
    for unit in sorted(f for f in os.listdir(unit_dir) if f.endswith(".service")):
        text = open(os.path.join(unit_dir, unit), encoding="utf-8").read()
        m = re.search(r"^ExecStart=((?:.*\\\n)*.*)$", text, re.M)
        words = shlex.split(m.group(1).replace("\\\n", " "))
        uses += uses_of(words[0], words[1:], f"deploy/systemd/{unit}", src)
    return uses


def help_flags(build, program, cache):
    if program not in cache:
        binary = os.path.join(build, "bin", program)
        if not os.path.exists(binary):
            cache[program] = None
        else:
            out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                                 timeout=60, check=False)
            cache[program] = set(re.findall(r"--[a-z0-9][a-z0-9-]*", out.stdout + out.stderr))
    return cache[program]


def missing(uses, build, cache):
    errors = []
    for program, flag, where in uses:
        known = help_flags(build, program, cache)
        if known is None:
            errors.append(f"{where}: runs {program}, which {build}/bin does not have")
        elif flag not in known:
            errors.append(f"{where}: {program} {flag}: not in `{program} --help`")
    return sorted(set(errors))


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    src, build = argv[1], argv[2]
    uses = dockerfile_uses(src) + k8s_uses(src) + systemd_uses(src)
    cache = {}
    errors = missing(uses, build, cache)
    if "--self-test" in argv:
        # A flag no program has must be reported, or the check is vacuous.
        planted = missing([("fedlearn-coordinator", "--no-such-flag", "self-test")], build, cache)
        errors = [] if planted else ["a flag fedlearn-coordinator lacks was not reported"]
    by_program = {}
    for program, flag, _ in uses:
        by_program.setdefault(program, set()).add(flag)
    for program in sorted(by_program):
        print(f"{program}: {' '.join(sorted(by_program[program]))}")
    for e in errors:
        print("FAIL", e)
    if not errors:
        print("PASS")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

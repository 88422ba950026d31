#!/usr/bin/python3
"""Checks deploy/docker/Dockerfile without a container engine (none runs here
or in CI): a small linter in place of hadolint, plus the check that the
runtime stage's packages provide every shared library the programs load.

Usage: check_dockerfile.py SOURCE_DIR BUILD_DIR CHECK...   (exit 1 on any failure)

Checks (ctest Dockerfile.<Name>, tests/deploy/CMakeLists.txt):
  base         every FROM is a Debian 12 image pinned by tag (never latest or
               untagged), or an earlier stage
  final        each final stage runs as a non-root numeric USER, has a
               HEALTHCHECK, an exec-form ENTRYPOINT, VOLUME /var/lib/fedlearn
               and EXPOSEs the metrics port (the coordinator also 7443)
  copy         every COPY source (not --from) exists in the repository and is
               not excluded by .dockerignore; no ADD of a URL
  apt          each RUN that installs packages runs apt-get update, skips
               recommends and removes /var/lib/apt/lists, all in one layer
  builder      the builder installs every Debian package the Makefile's
               DEB_PACKAGES needs for a build (all but the test/fuzz/demo ones)
  ldd          the runtime stage's apt list names the package of every library
               the copied programs link directly (readelf NEEDED), and every
               library ldd reports is reachable from that list through the
               packages' Depends (dpkg's database here); skipped, saying
               so, only when BUILD_DIR/bin does not exist
  mutations    each check rejects the Dockerfile with one violation planted
"""

import fnmatch
import os
import re
import shlex
import subprocess
import sys

DOCKERFILE = "deploy/docker/Dockerfile"
METRICS_PORT = "9464"
GRPC_PORT = "7443"
STATE_DIR = "/var/lib/fedlearn"
BASE_RE = re.compile(
    r"^debian:(12(\.\d+)?|bookworm)(-slim)?(@sha256:[0-9a-f]{64})?$")
SANITIZER_RT = re.compile(r"^lib(a|ub|t|l)san\.so")
# DEB_PACKAGES entries a build from the repository does not need (tests,
# benchmarks, fuzzing, formatting, the demo's dataset, the systemd, Prometheus
# and report-screenshot tests, the deploy checks, the TorchScript LoRA
# example's test).
NOT_FOR_BUILD = {
    "libgtest-dev", "libgmock-dev", "libbenchmark-dev", "dataset-fashion-mnist",
    "systemd", "clang-format", "python3", "git", "clang", "libfuzzer-14-dev",
    "python3-yaml", "shellcheck", "prometheus", "chromium", "python3-torch",
}


class Stage:
    def __init__(self, name, base):
        self.name, self.base = name, base
        self.instructions = []  # (keyword, arguments)


def logical_lines(text):
    """Joins continuation lines and drops comments and blank lines."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse(text):
    stages = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, words[0]))
        elif stages:  # (ARGs before the first FROM are not used here)
            stages[-1].instructions.append((keyword, args))
    return stages


def copy_from_names(stage):
    names = []
    for keyword, args in stage.instructions:
        if keyword == "COPY":
            m = re.search(r"--from=(\S+)", args)
            if m:
                names.append(m.group(1))
    return names


def final_stages(stages):
    used = set()
    for s in stages:
        used.add(s.base)
        used.update(copy_from_names(s))
    return [s for s in stages if s.name not in used]


def chain(stages, stage):
    """The stage and the stages it is built FROM, base first."""
    by_name = {s.name: s for s in stages}
    out = [stage]
    while out[0].base in by_name:
        out.insert(0, by_name[out[0].base])
    return out


def effective(stages, stage, keyword):
    value = None
    for s in chain(stages, stage):
        for k, args in s.instructions:
            if k == keyword:
                value = args
    return value


def all_effective(stages, stage, keyword):
    return [a for st in chain(stages, stage) for k, a in st.instructions if k == keyword]


def check_base(stages, ctx):
    errors, names = [], set()
    for s in stages:
        if s.base not in names and not BASE_RE.match(s.base):
            errors.append(f"stage {s.name}: FROM {s.base} is not a Debian 12 image "
                          "pinned by tag (debian:12-slim, debian:12.N-slim[@sha256:...])")
        names.add(s.name)
    if not stages:
        errors.append("no FROM")
    return errors


def check_final(stages, ctx):
    errors = []
    finals = final_stages(stages)
    if {s.name for s in finals} != {"coordinator", "client"}:
        errors.append(f"final stages are {[s.name for s in finals]}, want coordinator and client")
    for s in finals:
        user = effective(stages, s, "USER")
        if user is None:
            errors.append(f"{s.name}: no USER (it would run as root)")
        else:
            uid = user.split(":")[0]
            if not uid.isdigit() or uid == "0":
                errors.append(f"{s.name}: USER {user} must be a numeric non-root uid "
                              "(Kubernetes runAsNonRoot checks it)")
        health = effective(stages, s, "HEALTHCHECK")
        if not health or health.upper().startswith("NONE"):
            errors.append(f"{s.name}: no HEALTHCHECK")
        entry = effective(stages, s, "ENTRYPOINT")
        if not entry or not (entry.startswith("[") and entry.endswith("]")):
            errors.append(f"{s.name}: ENTRYPOINT missing or not in exec form")
        volumes = " ".join(all_effective(stages, s, "VOLUME"))
        if STATE_DIR not in volumes:
            errors.append(f"{s.name}: {STATE_DIR} is not a VOLUME")
        ports = " ".join(all_effective(stages, s, "EXPOSE")).split()
        want = [METRICS_PORT] + ([GRPC_PORT] if s.name == "coordinator" else [])
        for p in want:
            if p not in ports:
                errors.append(f"{s.name}: does not EXPOSE {p}")
    return errors


def dockerignore_patterns(src):
    path = os.path.join(src, ".dockerignore")
    if not os.path.exists(path):
        return None
    pats = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line.rstrip("/"))
    return pats


def ignored(rel, patterns):
    parts = rel.split("/")
    for p in patterns:
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatch(prefix, p) or fnmatch.fnmatch(prefix, p.lstrip("*/")):
                return True
    return False


def check_copy(stages, ctx):
    errors, src = [], ctx["src"]
    patterns = dockerignore_patterns(src)
    if patterns is None:
        errors.append(".dockerignore missing: build trees and .git would enter the context")
        patterns = []
    for want in (".git", "build", "build-*", "demo-*"):
        if want not in patterns:
            errors.append(f".dockerignore does not exclude {want}")
    for s in stages:
        for keyword, args in s.instructions:
            if keyword == "ADD":
                if re.search(r"(https?|ftp)://|git@", args):
                    errors.append(f"{s.name}: ADD of a URL ({args}): download in a RUN with a checksum, or vendor it")
                else:
                    errors.append(f"{s.name}: ADD {args}: use COPY")
            if keyword != "COPY" or "--from=" in args:
                continue
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            for source in words[:-1]:
                rel = os.path.normpath(source)
                if rel != "." and (not os.path.exists(os.path.join(src, rel))):
                    errors.append(f"{s.name}: COPY source {source} does not exist in the repository")
                elif rel != "." and ignored(rel, patterns):
                    errors.append(f"{s.name}: COPY source {source} is excluded by .dockerignore")
    return errors


def apt_packages(args):
    """Packages of the first `apt-get install` in a RUN's shell text."""
    m = re.search(r"apt-get\s+install\s+(.*?)(&&|;|$)", args)
    if not m:
        return []
    return [w for w in m.group(1).split() if not w.startswith("-") and "=" not in w]


def check_apt(stages, ctx):
    errors = []
    for s in stages:
        for keyword, args in s.instructions:
            if keyword != "RUN" or "apt-get install" not in args:
                continue
            if "apt-get update" not in args:
                errors.append(f"{s.name}: apt-get install without apt-get update in the same RUN")
            if "--no-install-recommends" not in args:
                errors.append(f"{s.name}: apt-get install without --no-install-recommends")
            if not re.search(r"rm -rf /var/lib/apt/lists/\*?", args):
                errors.append(f"{s.name}: the RUN that installs packages does not remove /var/lib/apt/lists")
            if not apt_packages(args):
                errors.append(f"{s.name}: apt-get install names no package")
    return errors


def stage_apt_list(stage):
    pkgs = []
    for keyword, args in stage.instructions:
        if keyword == "RUN":
            pkgs += apt_packages(args)
    return pkgs


def makefile_packages(src):
    text = open(os.path.join(src, "Makefile"), encoding="utf-8").read()
    m = re.search(r"^DEB_PACKAGES\s*:?=\s*((?:.*\\\n)*.*)$", text, re.M)
    if not m:
        return None
    words = m.group(1).replace("\\\n", " ").split()
    return [w for w in words if not w.startswith("$")]


def check_builder(stages, ctx):
    by_name = {s.name: s for s in stages}
    if "builder" not in by_name:
        return ["no stage named builder"]
    have = set(stage_apt_list(by_name["builder"]))
    want = makefile_packages(ctx["src"])
    if want is None:
        return ["no DEB_PACKAGES in the Makefile"]
    return [f"builder does not install {p} (Makefile DEB_PACKAGES; add it, or to "
            "NOT_FOR_BUILD in this checker if only tests need it)"
            for p in want if p not in have and p not in NOT_FOR_BUILD]


def copied_programs(stages):
    """(stage, program) for every builder file a final stage copies into bin."""
    out = []
    for s in final_stages(stages):
        for st in chain(stages, s):
            for keyword, args in st.instructions:
                if keyword == "COPY" and "--from=builder" in args:
                    words = [w for w in shlex.split(args) if not w.startswith("--")]
                    out += [(s.name, os.path.basename(w)) for w in words[:-1]]
    return out


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def dpkg_owners(paths):
    """Maps each library path to its Debian package (usr-merge aware)."""
    candidates = {}
    for p in paths:
        real = os.path.realpath(p)
        forms = {p, real}
        for f in list(forms):
            if f.startswith("/lib"):
                forms.add("/usr" + f)
            if f.startswith("/usr/lib"):
                forms.add(f[len("/usr"):])
        candidates[p] = forms
    every = sorted({f for forms in candidates.values() for f in forms})
    owner_of = {}
    for line in run(["dpkg", "-S"] + every).stdout.splitlines():
        pkg, _, path = line.partition(": ")
        if path and "," not in pkg and not pkg.startswith("diversion"):
            owner_of[path.strip()] = pkg.split(":")[0]
    return {p: next((owner_of[f] for f in forms if f in owner_of), None)
            for p, forms in candidates.items()}


def dpkg_fields():
    """Depends (Pre-Depends included) and Provides of every installed package."""
    out = run(["dpkg-query", "-W", "-f=${Package}\t${Pre-Depends}\t${Depends}\t${Provides}\n"])
    depends, provides = {}, {}
    for line in out.stdout.splitlines():
        name, pre, dep, prov = (line.split("\t") + ["", "", ""])[:4]
        groups = [g for g in (pre + "," + dep).split(",") if g.strip()]
        depends[name] = [[re.sub(r"[:(].*", "", a).strip() for a in g.split("|")] for g in groups]
        for p in prov.split(","):
            p = re.sub(r"[:(].*", "", p).strip()
            if p:
                provides.setdefault(p, set()).add(name)
    return depends, provides


def closure(listed, depends, provides):
    """What apt installs for `listed` without recommends: Depends followed;
    of alternatives, one the list already provides, else the first real one."""
    seen, todo = set(), list(listed)
    listed_names = set(listed)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        for group in depends.get(pkg, []):
            chosen = None
            for alt in group:
                providers = {alt} | provides.get(alt, set())
                hit = providers & (listed_names | seen)
                if hit:
                    chosen = sorted(hit)[0]
                    break
            if chosen is None:
                for alt in group:
                    if alt in depends:
                        chosen = alt
                        break
            if chosen is None:
                chosen = group[0]
            todo.append(chosen)
    return seen


def needed(binary):
    out = run(["readelf", "-d", binary]).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", out)


def ldd_paths(binary):
    out = run(["ldd", binary])
    if out.returncode != 0:
        return None, out.stdout + out.stderr
    resolved, missing = {}, []
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            if m.group(2) == "not":
                missing.append(m.group(1))
            else:
                resolved[m.group(1)] = m.group(2)
    return resolved, "not found: " + " ".join(missing) if missing else ""


def check_ldd(stages, ctx):
    bindir = os.path.join(ctx["build"], "bin")
    if not os.path.isdir(bindir):
        print(f"SKIP ldd coverage: {bindir} does not exist (build the programs first; "
              "`make test` always has it)")
        return []
    by_name = {s.name: s for s in stages}
    if "runtime" not in by_name:
        return ["no stage named runtime"]
    listed = stage_apt_list(by_name["runtime"])
    depends, provides = ctx.get("dpkg") or dpkg_fields()
    ctx["dpkg"] = (depends, provides)
    installable = closure(listed, depends, provides)
    errors, programs = [], copied_programs(stages)
    if not programs:
        return ["no final stage copies a program from the builder"]
    for stage, prog in programs:
        binary = os.path.join(bindir, prog)
        if not os.path.exists(binary):
            errors.append(f"{stage}: copies {prog}, which {bindir} does not have")
            continue
        libs, problem = ldd_paths(binary)
        if libs is None or problem:
            errors.append(f"{prog}: ldd failed here: {problem}")
            continue
        # The image is never sanitized: a sanitized build's runtimes and its
        # different direct links (no --as-needed effect) are not the image's.
        sanitized = bool(os.environ.get("FEDLEARN_SANITIZE"))
        libs = {k: v for k, v in libs.items() if not (sanitized and SANITIZER_RT.match(k))}
        owners = dpkg_owners(list(libs.values()))
        for soname in [] if sanitized else needed(binary):
            pkg = owners.get(libs.get(soname, ""), None)
            if pkg is None:
                errors.append(f"{prog}: {soname} belongs to no Debian package here")
            elif pkg not in listed:
                errors.append(f"{prog} links {soname} directly: add {pkg} to the runtime "
                              "stage's apt-get install")
        for soname, path in sorted(libs.items()):
            pkg = owners.get(path)
            if pkg is None:
                errors.append(f"{prog}: {soname} ({path}) belongs to no Debian package here")
            elif pkg not in installable:
                errors.append(f"{prog}: {soname} comes from {pkg}, which the runtime "
                              "stage's packages do not pull in: add it")
        if not ctx.get("quiet"):
            print(f"{stage}/{prog}: {len(needed(binary))} direct, {len(libs)} loaded libraries covered")
    return errors


CHECKS = {"base": check_base, "final": check_final, "copy": check_copy,
          "apt": check_apt, "builder": check_builder, "ldd": check_ldd}

# (check, old text, new text): one violation each, planted in the real file.
MUTATIONS = [
    ("base", "FROM debian:12-slim AS runtime", "FROM debian:latest AS runtime"),
    ("base", "FROM debian:12-slim AS builder", "FROM debian AS builder"),
    ("base", "FROM debian:12-slim AS builder", "FROM ubuntu:22.04 AS builder"),
    ("final", "USER 10001:10001\nHEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\\n  CMD [\"/usr/local/bin/fedlearn-healthcheck\"]\nSTOPSIGNAL SIGTERM\nENTRYPOINT [\"/usr/local/bin/fedlearn-client\"]",
     "USER root\nHEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\\n  CMD [\"/usr/local/bin/fedlearn-healthcheck\"]\nSTOPSIGNAL SIGTERM\nENTRYPOINT [\"/usr/local/bin/fedlearn-client\"]"),
    ("final", "EXPOSE 7443 9464", "EXPOSE 9464"),
    ("final", "HEALTHCHECK --interval", "HEALTHCHECK NONE\n# --interval"),
    ("copy", "COPY deploy/docker/fedlearn-healthcheck", "COPY deploy/docker/no-such-file"),
    ("copy", "WORKDIR /src\n", "WORKDIR /src\nADD https://example.org/x.tar.gz /src/\n"),
    ("apt", " && rm -rf /var/lib/apt/lists/*\n# A fixed", "\n# A fixed"),
    ("apt", "apt-get install -y --no-install-recommends \\\n      libc6", "apt-get install -y \\\n      libc6"),
    ("builder", "      libcsv-dev \\\n", "      \\\n"),
    ("ldd", " libcsv3 \\\n", " \\\n"),
    ("ldd", "libtorch1.13 libopenblas0-pthread", "libopenblas0-pthread"),
    # Only transitive: apt would pick reference BLAS (libblas3) for
    # LibTorch's `libblas3 | libblas.so.3`, not the OpenBLAS ldd finds here.
    ("ldd", "libtorch1.13 libopenblas0-pthread", "libtorch1.13"),
]


def check_mutations(text, ctx):
    errors, ctx = [], dict(ctx, quiet=True)
    for check, old, new in MUTATIONS:
        if old not in text:
            errors.append(f"mutation for {check} no longer applies (text changed): {old[:60]!r}")
            continue
        found = CHECKS[check](parse(text.replace(old, new, 1)), ctx)
        if check == "ldd" and not os.path.isdir(os.path.join(ctx["build"], "bin")):
            continue
        if not found:
            errors.append(f"check {check} accepts a Dockerfile with {new[:60]!r} planted")
        else:
            print(f"mutation {check}: rejected ({found[0][:100]})")
    return errors


def main(argv):
    if len(argv) < 4:
        print(__doc__)
        return 2
    src, build, checks = argv[1], argv[2], argv[3:]
    text = open(os.path.join(src, DOCKERFILE), encoding="utf-8").read()
    ctx = {"src": src, "build": build}
    stages = parse(text)
    errors = []
    for check in checks:
        if check == "mutations":
            found = check_mutations(text, ctx)
        elif check in CHECKS:
            found = CHECKS[check](stages, ctx)
        else:
            print(f"unknown check {check}")
            return 2
        errors += [f"[{check}] {e}" for e in found]
    for e in errors:
        print("FAIL", e)
    if not errors:
        print("PASS:", " ".join(checks))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

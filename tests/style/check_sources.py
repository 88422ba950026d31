#!/usr/bin/env python3
"""Source-shape rules of the project (README "Tests"; issue 9 acceptance).

  format     every tracked .h/.cc is clang-format clean (.clang-format)
  file-size  no non-test source file over 500 lines (tests/ and bench/ exempt)
  functions  no function body over 80 lines (main() and bench/ exempt)
  layering   server/ includes nothing from client/ and vice versa; common/
             includes neither

Usage: check_sources.py REPO_ROOT CHECK...   (exit 1 listing every violation)
"""
import os
import re
import subprocess
import sys

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def tracked_sources(root):
    # Tracked files and new ones not ignored; a file deleted in the work
    # tree is skipped.
    out = subprocess.run(["git", "-C", root, "ls-files", "--cached",
                          "--others", "--exclude-standard", "*.cc", "*.h"],
                         check=True, capture_output=True, text=True).stdout
    return sorted({p for p in out.split()
                   if p and os.path.exists(os.path.join(root, p))})


def check_format(root, files):
    problems = []
    for i in range(0, len(files), 50):
        chunk = [f"{root}/{f}" for f in files[i:i + 50]]
        r = subprocess.run(["clang-format", "--dry-run", "--Werror",
                            "--style=file"] + chunk,
                           capture_output=True, text=True)
        for line in r.stderr.splitlines():
            if "error:" in line:
                problems.append(line.replace(root + "/", ""))
    return problems


def check_file_size(root, files):
    problems = []
    for f in files:
        if f.startswith(("tests/", "bench/")):
            continue
        n = sum(1 for _ in open(f"{root}/{f}", encoding="utf-8"))
        if n > MAX_FILE_LINES:
            problems.append(f"{f}: {n} lines (limit {MAX_FILE_LINES})")
    return problems


NOT_FUNCTION = re.compile(
    r"^(namespace|class|struct|enum|union|extern|template\s*<[^>]*>\s*(class|struct))\b")


def functions(lines):
    """Yields (name line, body lines) for column-0 function definitions."""
    start = None
    for i, line in enumerate(lines):
        if start is None:
            if line and not line[0].isspace() and not line.startswith(
                    ("//", "#", "}", "{")) and "(" in line:
                if NOT_FUNCTION.match(line) or line.rstrip().endswith(";"):
                    continue
                start = i
            else:
                continue
        if start is not None and lines[i].rstrip().endswith(("{}", "{ }")):
            start = None  # an empty body on the signature's last line
            continue
        if start is not None and lines[i].rstrip().endswith("{") and (
                i == start or lines[i].startswith((" ", "\t")) or
                lines[i].rstrip() == "{" or i == start):
            open_line = i
            for j in range(open_line + 1, len(lines)):
                if lines[j].rstrip() == "}":
                    yield start, lines[start].strip(), j - open_line - 1
                    break
            start = None
        elif start is not None and lines[i].rstrip().endswith(";"):
            start = None


def check_functions(root, files):
    problems = []
    for f in files:
        if not f.endswith(".cc") or f.startswith(("bench/", "tests/")):
            continue
        lines = open(f"{root}/{f}", encoding="utf-8").read().split("\n")
        for start, name, body in functions(lines):
            if body > MAX_FUNCTION_LINES and not re.match(r"int main\(", name):
                problems.append(f"{f}:{start + 1}: {name[:60]} has {body} "
                                f"body lines (limit {MAX_FUNCTION_LINES})")
    return problems


INCLUDE = re.compile(r'^#include "([^"]+)"')


def check_layering(root, files):
    rules = {"server/": ("client/",), "client/": ("server/",),
             "common/": ("client/", "server/", "apps/")}
    problems = []
    for f in files:
        for prefix, banned in rules.items():
            if not f.startswith(prefix):
                continue
            for n, line in enumerate(open(f"{root}/{f}", encoding="utf-8"), 1):
                m = INCLUDE.match(line)
                if m and m.group(1).startswith(banned):
                    problems.append(f"{f}:{n}: includes {m.group(1)}")
    return problems


def main():
    root, checks = sys.argv[1], sys.argv[2:]
    files = tracked_sources(root)
    runners = {"format": check_format, "file-size": check_file_size,
               "functions": check_functions, "layering": check_layering}
    failed = False
    for check in checks:
        problems = runners[check](root, files)
        for p in problems:
            print(f"{check}: {p}")
        print(f"{check}: {len(problems)} problem(s) in {len(files)} files")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""docs/security.md's limits table ("Message discipline") names every key of
the coordinator's [limits] section with its default: each key printed by
`BUILD_DIR/bin/fedlearn-coordinator --print-config` under [limits] appears
in the first cell of a row, and the row's Default cell holds the printed
default (units converted: "30 min" for a _s key of 1800, "4 MiB" for
4194304, "1000 ms"). A key added to the schema without its row, or a
default changed without the table, fails here.

Usage: check_security_limits.py SOURCE_DIR BUILD_DIR [--self-test]
"""

import os
import re
import subprocess
import sys

TABLE_HEAD = "| Limit (key) | Default |"
NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(GiB|MiB|KiB|min|ms|h|s)?(?![A-Za-z])")
SCALE = {  # (key's unit, token's unit) -> factor; None = the key's own unit
    ("s", "s"): 1, ("s", "min"): 60, ("s", "h"): 3600, ("s", "ms"): 1e-3,
    ("ms", "ms"): 1, ("ms", "s"): 1e3,
    ("bytes", "KiB"): 1 << 10, ("bytes", "MiB"): 1 << 20, ("bytes", "GiB"): 1 << 30,
}


def printed_limits(print_config):
    """{key: default} of the [limits] section of --print-config's text."""
    out, inside = {}, False
    for line in print_config.splitlines():
        if line.startswith("["):
            inside = line.split("]")[0] == "[limits"
            continue
        m = re.match(r"^([a-z0-9_]+) = ([^#]+?)\s*(#.*)?$", line)
        if inside and m:
            out[m.group(1)] = float(m.group(2))
    return out


def table_rows(doc):
    """[(names in the first cell, default cell)] of the limits table."""
    start = doc.find(TABLE_HEAD)
    if start < 0:
        raise RuntimeError(f"docs/security.md: no table headed {TABLE_HEAD!r}")
    rows = []
    for line in doc[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = [n.split(".", 1)[-1] for n in re.findall(r"`([a-z0-9_.]+)`", cells[0])]
        rows.append((names, cells[1]))
    return rows


def unit_of(key):
    for suffix, unit in (("_s", "s"), ("_ms", "ms"), ("_bytes", "bytes")):
        if key.endswith(suffix):
            return unit
    return None


def defaults_in(cell, key):
    """The numbers of a Default cell, in the key's unit."""
    out = []
    for number, unit in NUMBER.findall(cell):
        x = float(number.replace(",", ""))
        if not unit:
            out.append(x)
        elif (unit_of(key), unit) in SCALE:
            out.append(x * SCALE[(unit_of(key), unit)])
    return out


def problems(limits, rows):
    found = []
    for key, default in sorted(limits.items()):
        cells = [cell for names, cell in rows if key in names]
        if not cells:
            found.append(f"limits.{key} (default {default:g}) has no row in the table")
        elif not any(abs(v - default) <= 1e-9 * max(1, default)
                     for cell in cells for v in defaults_in(cell, key)):
            found.append(f"limits.{key}: the table's default {cells[0]!r} is not "
                         f"the printed default {default:g}")
    return found


def self_test(limits, rows):
    """The check fails on a planted missing row and a planted wrong default."""
    some = next(k for k in sorted(limits) if not problems({k: limits[k]}, rows))
    missing = [(names, cell) for names, cell in rows if some not in names]
    assert problems(limits, missing), "a missing row went unnoticed"
    wrong = dict(limits)
    wrong[some] = limits[some] + 7
    assert problems(wrong, rows), "a wrong default went unnoticed"
    assert defaults_in("30 min", "stream_deadline_s") == [1800]
    assert defaults_in("4 MiB (at least 2 MiB)", "max_message_bytes") == [4 << 20, 2 << 20]
    assert defaults_in("50/s, burst 100", "rpc_burst") == [50, 100]


def main():
    src, build = sys.argv[1], sys.argv[2]
    text = subprocess.run([os.path.join(build, "bin", "fedlearn-coordinator"),
                           "--print-config"], check=True, capture_output=True,
                          text=True).stdout
    limits = printed_limits(text)
    if not limits:
        print("fedlearn-coordinator --print-config printed no [limits] keys")
        return 1
    with open(os.path.join(src, "docs", "security.md"), encoding="utf-8") as f:
        rows = table_rows(f.read())
    if "--self-test" in sys.argv[3:]:
        self_test(limits, rows)
        print("self-test passed")
        return 0
    found = problems(limits, rows)
    for p in found:
        print(f"docs/security.md: {p}")
    if not found:
        print(f"all {len(limits)} [limits] keys are in docs/security.md's table")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

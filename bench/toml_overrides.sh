# shellcheck shell=bash
# Sourced by the benchmark sweeps (dp_accuracy_sweep.sh, niid_bench.sh).
#
# write_config BASE SETS OUT: copies the TOML config BASE to OUT with
# `section.key=value` settings (';'-separated) applied: an existing key is
# rewritten in place, a missing one is appended to its section. A section
# BASE lacks is an error (exit status 1, named on stderr).
write_config() {
  local base="$1" sets="$2" out="$3"
  awk -v sets="$sets" '
    BEGIN {
      n = split(sets, a, ";")
      for (i = 1; i <= n; i++) {
        eq = index(a[i], "=")
        want[substr(a[i], 1, eq - 1)] = substr(a[i], eq + 1)
      }
    }
    function flush(   k, p) {
      for (k in want) {
        split(k, p, ".")
        if (p[1] == sec && !(k in done)) { print p[2] " = " want[k]; done[k] = 1 }
      }
    }
    /^\[[^]]*\]/ { flush(); sec = substr($0, 2, index($0, "]") - 2); print; next }
    {
      if (match($0, /^[ \t]*[A-Za-z_]+[ \t]*=/)) {
        key = $0; sub(/^[ \t]*/, "", key); sub(/[ \t]*=.*/, "", key)
        if ((sec "." key) in want) {
          print key " = " want[sec "." key]; done[sec "." key] = 1; next
        }
      }
      print
    }
    END {
      flush()
      for (k in want) if (!(k in done)) { print "no section for " k > "/dev/stderr"; exit 1 }
    }' "$base" >"$out"
}

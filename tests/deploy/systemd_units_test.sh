#!/usr/bin/env bash
# Tests of the systemd deployment in deploy/systemd/, run by ctest
# (tests/deploy/CMakeLists.txt):
#   systemd_units_test.sh CASE SOURCE_DIR BUILD_DIR
#
# Every case stages `make install` into its own temporary DESTDIR (the real
# Makefile target, with its `build` prerequisite taken as done: ctest runs
# after the build) and checks what landed there. Nothing is written outside
# that directory, which is removed on exit; build/install_manifest.txt, which
# `cmake --install` rewrites, is put back as it was (the cases hold a ctest
# RESOURCE_LOCK so they do not race on it).
#
# A missing systemd-analyze is a failure, not a skip: CI installs it with
# `make deps` (Debian package `systemd`).
set -euo pipefail

case_name=${1:?usage: $0 CASE SOURCE_DIR BUILD_DIR}
src=${2:?SOURCE_DIR}
build=${3:?BUILD_DIR}
units=(fedlearn-coordinator.service fedlearn-client.service)
programs=(fedlearn-coordinator fedlearn-client fedlearn-certs fedlearn-sim fedlearn-dp)

fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fedlearn-deploy-test.XXXXXX")
manifest=$build/install_manifest.txt
if [ -e "$manifest" ]; then cp -p "$manifest" "$tmp/manifest.orig"; fi
cleanup() {
  if [ -e "$tmp/manifest.orig" ]; then
    cp -p "$tmp/manifest.orig" "$manifest"
  else
    rm -f "$manifest"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

need_systemd_analyze() {
  command -v systemd-analyze >/dev/null ||
    fail "systemd-analyze not found: install Debian's 'systemd' package (make deps does)"
}

# stage DESTDIR PREFIX [TARGET]: the Makefile's target (default install).
stage() {
  make --no-print-directory -C "$src" -o build "${3:-install}" \
    BUILD_DIR="$build" DESTDIR="$1" PREFIX="$2" >"$tmp/make.log" 2>&1 ||
    { cat "$tmp/make.log" >&2; fail "make ${3:-install} DESTDIR=$1 PREFIX=$2 failed"; }
}

# exec_path UNIT_FILE: the program ExecStart= runs.
exec_path() {
  sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$1"
}

mode_of() { stat -c %a "$1"; }

case "$case_name" in
SystemdUnits.VerifyPasses)
  # The installed units, with ExecStart moved into the staging root so that
  # verify's "is the command executable" check looks at the installed binary.
  # verify exits 0 even on unknown keys or bad values (it only warns), so any
  # output at all is a failure.
  need_systemd_analyze
  root=$tmp/root
  stage "$root" /usr/local
  mkdir -p "$tmp/units"
  for unit in "${units[@]}"; do
    installed=$root/usr/local/lib/systemd/system/$unit
    [ -f "$installed" ] || fail "$unit not installed at /usr/local/lib/systemd/system"
    sed "s|^ExecStart=/|ExecStart=$root/|" "$installed" >"$tmp/units/$unit"
  done
  for unit in "${units[@]}"; do
    if ! out=$(systemd-analyze verify "$tmp/units/$unit" 2>&1); then
      fail "systemd-analyze verify $unit exited non-zero: $out"
    fi
    [ -z "$out" ] || fail "systemd-analyze verify $unit warned: $out"
    # verify does not catch this one: After= alone does not pull the target
    # in, so the unit would not wait for the network after all.
    if grep -q '^After=.*network-online.target' "$tmp/units/$unit"; then
      grep -q '^Wants=.*network-online.target' "$tmp/units/$unit" ||
        fail "$unit: After=network-online.target without Wants=network-online.target"
    fi
    echo "verify $unit: clean"
  done
  ;;

SystemdUnits.ExposureBelow4)
  need_systemd_analyze
  root=$tmp/root
  stage "$root" /usr/local
  for unit in "${units[@]}"; do
    out=$(systemd-analyze security --offline=true \
      "$root/usr/local/lib/systemd/system/$unit" 2>&1) || true
    score=$(printf '%s\n' "$out" |
      sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] || fail "no exposure score for $unit in: $out"
    echo "$unit: exposure $score"
    awk -v s="$score" 'BEGIN { exit !(s < 4.0) }' ||
      fail "$unit exposure $score is not below 4.0: $out"
  done
  ;;

MakeInstall.PutsBinariesWhereUnitsExpect)
  # `make install` builds first ...
  plan=$(make --no-print-directory -n -C "$src" install BUILD_DIR="$build")
  grep -q 'cmake --build' <<<"$plan" || fail "make install does not build first: $plan"
  # ... and, for the default and for another prefix, installs every program
  # into PREFIX/bin, every unit into PREFIX/lib/systemd/system, and each
  # unit's ExecStart names an installed executable.
  for prefix in /usr/local /opt/fedlearn; do
    root=$tmp/root-${prefix//\//_}
    stage "$root" "$prefix"
    for p in "${programs[@]}"; do
      [ -x "$root$prefix/bin/$p" ] || fail "$p not installed at $prefix/bin (PREFIX=$prefix)"
    done
    for unit in "${units[@]}"; do
      installed=$root$prefix/lib/systemd/system/$unit
      [ -f "$installed" ] || fail "$unit not at $prefix/lib/systemd/system"
      exe=$(exec_path "$installed")
      case "$exe" in
        "$prefix"/bin/*) ;;
        *) fail "$unit ExecStart=$exe is not under $prefix/bin (PREFIX=$prefix)" ;;
      esac
      [ -x "$root$exe" ] || fail "$unit ExecStart=$exe: not installed (PREFIX=$prefix)"
      echo "PREFIX=$prefix $unit -> $exe: installed"
    done
    for f in fedlearn-client.env.example fedlearn-coordinator.toml.example \
      coordinator-reference.toml install-systemd.sh; do
      [ -f "$root$prefix/share/fedlearn/$f" ] || fail "$prefix/share/fedlearn/$f not installed"
    done
  done
  # With the default prefix the shipped units are installed unchanged: copied
  # by hand they point at the right place too.
  for unit in "${units[@]}"; do
    cmp -s "$src/deploy/systemd/$unit" "$tmp/root-_usr_local/usr/local/lib/systemd/system/$unit" ||
      fail "deploy/systemd/$unit differs from what make install PREFIX=/usr/local installs"
  done
  ;;

MakeInstallSystemd.CreatesDirsAndKeepsEditedConfig)
  # DESTDIR mode of deploy/systemd/install.sh: directories and modes, the
  # example configs copied once, operator edits kept on a second run, key and
  # certificate modes tightened, units linked for a non-standard prefix.
  root=$tmp/root
  stage "$root" /usr/local install-systemd
  for d in etc/fedlearn etc/fedlearn/certs var/lib/fedlearn srv/fedlearn; do
    [ -d "$root/$d" ] || fail "/$d not created"
    [ "$(mode_of "$root/$d")" = 750 ] || fail "/$d has mode $(mode_of "$root/$d"), want 750"
  done
  for f in client.env coordinator.toml; do
    [ "$(mode_of "$root/etc/fedlearn/$f")" = 640 ] || fail "/etc/fedlearn/$f mode is not 640"
  done
  cmp -s "$src/deploy/systemd/fedlearn-client.env.example" "$root/etc/fedlearn/client.env" ||
    fail "/etc/fedlearn/client.env is not the example"
  echo "FEDLEARN_CLIENT_ID=edited-by-operator" >>"$root/etc/fedlearn/client.env"
  echo "# edited" >>"$root/etc/fedlearn/coordinator.toml"
  install -m 0644 /dev/null "$root/etc/fedlearn/certs/site-a.key"
  install -m 0644 /dev/null "$root/etc/fedlearn/certs/site-a.pem"
  stage "$root" /usr/local install-systemd  # idempotent: runs again cleanly
  grep -q '^FEDLEARN_CLIENT_ID=edited-by-operator$' "$root/etc/fedlearn/client.env" ||
    fail "a second run overwrote the edited client.env"
  grep -q '^# edited$' "$root/etc/fedlearn/coordinator.toml" ||
    fail "a second run overwrote the edited coordinator.toml"
  [ "$(mode_of "$root/etc/fedlearn/certs/site-a.key")" = 600 ] || fail "key mode is not 600"
  [ "$(mode_of "$root/etc/fedlearn/certs/site-a.pem")" = 640 ] || fail "certificate mode is not 640"
  # A prefix systemd does not search: the units are linked from /etc.
  opt=$tmp/root-opt
  stage "$opt" /opt/fedlearn install-systemd
  for unit in "${units[@]}"; do
    [ "$(readlink "$opt/etc/systemd/system/$unit")" = "/opt/fedlearn/lib/systemd/system/$unit" ] ||
      fail "$unit not linked into /etc/systemd/system for PREFIX=/opt/fedlearn"
  done
  echo "install-systemd: dirs, modes, kept edits, links: ok"
  ;;

*)
  fail "unknown case '$case_name'"
  ;;
esac
echo "PASS: $case_name"

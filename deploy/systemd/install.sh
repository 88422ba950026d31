#!/bin/sh
# Prepares a host for the fedlearn systemd units (deploy/systemd/README.md).
# Run after `make install` (as `make install-systemd`, or as
# <prefix>/share/fedlearn/install-systemd.sh where it is installed):
#
#   - the `fedlearn` system user and group (no login shell, home
#     /var/lib/fedlearn);
#   - /etc/fedlearn (0750 root:fedlearn) with certs/ (0750 root:fedlearn;
#     *.key 0600 fedlearn, *.pem 0640 root:fedlearn), /var/lib/fedlearn
#     (0750 fedlearn, the coordinator's state) and /srv/fedlearn (0750
#     root:fedlearn, the client's read-only training data);
#   - /etc/fedlearn/client.env and coordinator.toml from the examples, only
#     where they do not exist yet (an operator's edits are never overwritten);
#   - the units, linked into /etc/systemd/system when PREFIX puts them where
#     systemd does not look (e.g. PREFIX=/opt/fedlearn);
#   - `systemctl daemon-reload`, only when systemd is the running init.
#
# Idempotent: run it again at any time (e.g. after copying certificates in,
# to fix their owners and modes).
#
# Environment: PREFIX (default /usr/local, as `make install`), DESTDIR (stage
# everything under this root instead of /: the user is then not created and
# nothing is chowned; used by tests/deploy), UNITDIR (default
# $PREFIX/lib/systemd/system, as deploy/systemd/CMakeLists.txt).
set -eu

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
USER_NAME=fedlearn
here=$(cd "$(dirname "$0")" && pwd)

say() { printf 'install-systemd: %s\n' "$*"; }
die() { printf 'install-systemd: error: %s\n' "$*" >&2; exit 1; }

if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo make install-systemd), or set DESTDIR to stage into a directory"
fi

# The example files sit next to this script, both in the source tree and in
# <prefix>/share/fedlearn.
for f in fedlearn-client.env.example fedlearn-coordinator.toml.example; do
  [ -f "$here/$f" ] || die "$here/$f is missing (run from deploy/systemd or <prefix>/share/fedlearn)"
done
for unit in fedlearn-coordinator.service fedlearn-client.service; do
  [ -f "$DESTDIR$UNITDIR/$unit" ] ||
    die "$DESTDIR$UNITDIR/$unit is missing: run 'make install PREFIX=$PREFIX' first"
done

# owner USER:GROUP MODE PATH: chown only on a real install (the fedlearn user
# does not exist inside a DESTDIR).
owner() {
  chmod "$2" "$3"
  if [ -z "$DESTDIR" ]; then chown "$1" "$3"; fi
}

# 1. The service user.
if [ -n "$DESTDIR" ]; then
  say "DESTDIR set: not creating user '$USER_NAME', not changing owners"
elif getent passwd "$USER_NAME" >/dev/null; then
  say "user '$USER_NAME' exists"
else
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/sbin/nologin
  useradd --system --user-group --home-dir /var/lib/fedlearn --no-create-home \
    --shell "$nologin" --comment "fedlearn federated learning" "$USER_NAME"
  say "created system user '$USER_NAME'"
fi

# 2. Directories. Modes are (re)applied on every run.
mkdir -p "$DESTDIR/etc/fedlearn/certs" "$DESTDIR/var/lib/fedlearn" "$DESTDIR/srv/fedlearn"
owner "root:$USER_NAME" 0750 "$DESTDIR/etc/fedlearn"
owner "root:$USER_NAME" 0750 "$DESTDIR/etc/fedlearn/certs"
owner "$USER_NAME:$USER_NAME" 0750 "$DESTDIR/var/lib/fedlearn"
owner "root:$USER_NAME" 0750 "$DESTDIR/srv/fedlearn"
for key in "$DESTDIR"/etc/fedlearn/certs/*.key; do
  [ -f "$key" ] || continue
  case "$key" in
    */ca.key) say "warning: $key is the CA's private key: keep it off service hosts" ;;
  esac
  owner "$USER_NAME:$USER_NAME" 0600 "$key"
done
for pem in "$DESTDIR"/etc/fedlearn/certs/*.pem; do
  [ -f "$pem" ] || continue
  owner "root:$USER_NAME" 0640 "$pem"
done

# 3. Configuration, never overwritten.
copy_once() {  # SRC DEST
  if [ -e "$2" ]; then
    say "keeping existing $2"
  else
    cp "$1" "$2"
    owner "root:$USER_NAME" 0640 "$2"
    say "installed $2 (edit it)"
  fi
}
copy_once "$here/fedlearn-client.env.example" "$DESTDIR/etc/fedlearn/client.env"
copy_once "$here/fedlearn-coordinator.toml.example" "$DESTDIR/etc/fedlearn/coordinator.toml"

# 4. Units: systemd reads /usr/local/lib/systemd/system and /lib (/usr/lib)
# /systemd/system itself; anywhere else needs a link from /etc/systemd/system.
case "$UNITDIR" in
  /usr/local/lib/systemd/system | /usr/lib/systemd/system | /lib/systemd/system)
    say "units in $UNITDIR (searched by systemd)" ;;
  *)
    mkdir -p "$DESTDIR/etc/systemd/system"
    for unit in fedlearn-coordinator.service fedlearn-client.service; do
      if [ -e "$DESTDIR/etc/systemd/system/$unit" ]; then
        say "keeping existing /etc/systemd/system/$unit"
      else
        ln -s "$UNITDIR/$unit" "$DESTDIR/etc/systemd/system/$unit"
        say "linked /etc/systemd/system/$unit -> $UNITDIR/$unit"
      fi
    done ;;
esac

# 5. Reload, if systemd is running (sd_booted(3): /run/systemd/system exists).
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  say "systemctl daemon-reload done"
else
  say "systemd is not running here: skipped 'systemctl daemon-reload'"
fi
say "next: certificates into /etc/fedlearn/certs, edit the config, then" \
  "'systemctl enable --now fedlearn-coordinator' or 'fedlearn-client' (deploy/systemd/README.md)"

#!/usr/bin/env bash
# systemd-analyze verify accepts etc/systemd/certinboxd.service: exit status 0 and not one
# warning (verify exits 0 on an unknown key or a value it cannot parse, which it only prints).
# The copy verified runs the built certinboxd, since verify checks that ExecStart's program is
# there. The sysusers.d and tmpfiles.d files are applied to a scratch root: the user is made and
# the folders get their owner and mode.
# Usage: verify_unit.sh SOURCE_DIR CERTINBOXD
set -euo pipefail
source_dir=$1
certinboxd=$2
scratch=$(mktemp -d /tmp/cbx-unit-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

unit="$scratch/certinboxd.service"
sed "s|^ExecStart=/usr/bin/certinboxd |ExecStart=$certinboxd |" \
  "$source_dir/etc/systemd/certinboxd.service" > "$unit"
grep -q "^ExecStart=$certinboxd --config /etc/certinbox/certinbox.toml$" "$unit" ||
  fail "the unit's ExecStart is not '/usr/bin/certinboxd --config /etc/certinbox/certinbox.toml'"
if ! output=$(systemd-analyze verify "$unit" 2>&1); then
  fail "systemd-analyze verify refused the unit: $output"
fi
[ -z "$output" ] || fail "systemd-analyze verify warned about the unit: $output"
echo "systemd-analyze verify: accepted, no warning"

root="$scratch/root"
mkdir -p "$root/etc"
: > "$root/etc/passwd"
: > "$root/etc/group"
systemd-sysusers --root="$root" "$source_dir/etc/systemd/certinbox.sysusers"
grep -q '^certinbox:x:[0-9]*:[0-9]*:certinbox certificate inventory:/var/lib/certinbox:' \
  "$root/etc/passwd" || fail "sysusers did not make the user: $(cat "$root/etc/passwd")"
grep -q '^certinbox:x:' "$root/etc/group" || fail "sysusers did not make the group"
systemd-tmpfiles --root="$root" --create "$source_dir/etc/systemd/certinbox.tmpfiles"
uid=$(awk -F: '$1 == "certinbox" { print $3 }' "$root/etc/passwd")
for expected in "var/lib/certinbox 750" "var/spool/certinbox 750" \
                "var/spool/certinbox/inbox 2770"; do
  read -r path mode <<<"$expected"
  [ -d "$root/$path" ] || fail "tmpfiles did not make /$path"
  [ "$(stat -c %a "$root/$path")" = "$mode" ] || fail "/$path has mode $(stat -c %a "$root/$path")"
  [ "$(stat -c %u "$root/$path")" = "$uid" ] || fail "/$path is not the certinbox user's"
done
echo "sysusers.d and tmpfiles.d: user certinbox, /var/lib/certinbox and the inbox made"

#!/usr/bin/env bash
# The .deb that `cpack` makes from the existing build: its control fields (name, Depends from
# dpkg-shlibdeps, conffiles, maintainer scripts) and, extracted into a scratch root with
# dpkg-deb -x (never installed here), the system layout.
# Usage: deb_layout.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$1
build_dir=$2
scratch=$(mktemp -d /tmp/cbx-deb-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
source "$source_dir/tests/install/layout.sh"

cpack --config "$build_dir/CPackConfig.cmake" -B "$scratch/out" >"$scratch/cpack.log" 2>&1 ||
  fail "cpack failed: $(cat "$scratch/cpack.log")"
debs=("$scratch"/out/certinbox_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "cpack made no certinbox_*.deb: $(ls "$scratch/out")"
deb=${debs[0]}

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = certinbox ] || fail "Package: $(field Package)"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
# The libraries the programs link, found by dpkg-shlibdeps, and systemd for sysusers/tmpfiles.
for package in libc6 libuv1 libzmq5 libsqlite3-0 libssl3 libsystemd0 libcurl4 systemd; do
  [[ ", $depends," == *", $package "* || ", $depends," == *", $package,"* ]] ||
    fail "Depends lacks $package: $depends"
done
dpkg-deb --info "$deb" conffiles >"$scratch/conffiles"
[ "$(cat "$scratch/conffiles")" = /etc/certinbox/certinbox.toml ] ||
  fail "conffiles: $(cat "$scratch/conffiles")"
for script in postinst prerm postrm; do
  dpkg-deb --info "$deb" "$script" | grep -q '^#!/bin/sh' || fail "no $script in the .deb"
done
dpkg-deb --info "$deb" postinst | grep -q 'systemd-sysusers certinbox.conf' ||
  fail "postinst does not make the user"
echo "$(basename "$deb"): Depends: $depends"

dpkg-deb -x "$deb" "$scratch/root"
expect_system_layout "$scratch/root" "$source_dir"
# The packaged unit is etc/systemd/certinboxd.service as it is (expect_system_layout compares
# them), which install_unit_verify has systemd-analyze verify.
echo "dpkg-deb -x: the system layout"

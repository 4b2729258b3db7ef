#!/usr/bin/env bash
# `cmake --install` of the existing build: with prefix /usr (into a scratch DESTDIR) the layout a
# Debian system expects (/usr/bin, /etc/certinbox, /usr/lib/systemd/system, /usr/share/doc); with
# any other prefix everything stays inside it, its config in PREFIX/etc and the unit naming them.
# Usage: install_layout.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$1
build_dir=$2
scratch=$(mktemp -d /tmp/cbx-install-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
source "$source_dir/tests/install/layout.sh"

DESTDIR="$scratch/root" cmake --install "$build_dir" --prefix /usr >"$scratch/install.log" ||
  fail "cmake --install --prefix /usr failed: $(cat "$scratch/install.log")"
expect_system_layout "$scratch/root" "$source_dir"
echo "cmake --install --prefix /usr: the system layout"

prefix="$scratch/opt"
cmake --install "$build_dir" --prefix "$prefix" >"$scratch/install.log" ||
  fail "cmake --install --prefix $prefix failed: $(cat "$scratch/install.log")"
expect_programs "$prefix/bin"
[ -f "$prefix/etc/certinbox/certinbox.toml" ] || fail "no $prefix/etc/certinbox/certinbox.toml"
unit="$prefix/lib/systemd/system/certinboxd.service"
grep -qx "ExecStart=$prefix/bin/certinboxd --config $prefix/etc/certinbox/certinbox.toml" \
  "$unit" || fail "the unit in $prefix does not run $prefix's program and config"
expect_system_config "$prefix/etc/certinbox/certinbox.toml" "$prefix/bin/certinboxd"
echo "cmake --install --prefix $prefix: everything inside it"

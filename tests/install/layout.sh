# Sourced by install_layout.sh and deb_layout.sh: what a system install (prefix /usr) holds,
# checked in ROOT. Each check names what is missing.

fail() { echo "FAIL: $*" >&2; exit 1; }

# The programs: the daemon, the CLI and the plugins the project ships; nothing else in bin/ (no
# test or bench binary).
expect_programs() {
  local bin=$1
  local expected="certinbox certinbox-deploy certinbox-exec certinbox-webhook certinboxd"
  local found
  found=$(cd "$bin" && ls | sort | tr '\n' ' ' | sed 's/ $//')
  [ "$found" = "$expected" ] || fail "$bin holds '$found', expected '$expected'"
  for program in $expected; do
    [ -x "$bin/$program" ] || fail "$bin/$program is not executable"
  done
}

# ROOT/usr and ROOT/etc as the .deb and `cmake --install --prefix /usr` lay them out.
expect_system_layout() {
  local root=$1 source_dir=$2
  expect_programs "$root/usr/bin"
  local files=(
    usr/lib/systemd/system/certinboxd.service
    usr/lib/sysusers.d/certinbox.conf
    usr/lib/tmpfiles.d/certinbox.conf
    etc/certinbox/certinbox.toml
    usr/share/doc/certinbox/README.md
    usr/share/doc/certinbox/install.md
    usr/share/doc/certinbox/configuration.md
    usr/share/doc/certinbox/examples/plugin.py
    usr/share/doc/certinbox/examples/prometheus/certinbox-alerts.yml
    usr/share/doc/certinbox/examples/grafana/certinbox-dashboard.json
  )
  for file in "${files[@]}"; do
    [ -f "$root/$file" ] || fail "/$file is missing"
  done
  cmp -s "$root/usr/lib/systemd/system/certinboxd.service" \
    "$source_dir/etc/systemd/certinboxd.service" ||
    fail "the installed unit differs from etc/systemd/certinboxd.service"
  # Nothing outside /usr and /etc; no test, bench or fuzz program anywhere.
  local top
  top=$(cd "$root" && ls | sort | tr '\n' ' ')
  [ "$top" = "etc usr " ] || fail "the root holds '$top', expected only etc and usr"
  local stray
  stray=$(cd "$root" && find . -type f \( -name '*_test' -o -name '*_bench' -o -name '*.a' -o -name '*.h' \
    -o \( -name '*fuzz*' ! -name '*.md' \) \))
  [ -z "$stray" ] || fail "installed but not for installing: $stray"
  expect_system_config "$root/etc/certinbox/certinbox.toml" "$root/usr/bin/certinboxd"
}

# The installed config names the folders the unit lets the daemon write, and is valid.
expect_system_config() {
  local config=$1 certinboxd=$2
  grep -q '^state_dir = "/var/lib/certinbox"$' "$config" ||
    grep -q '^# *state_dir = "/var/lib/certinbox"' "$config" ||
    fail "$config does not keep its state in /var/lib/certinbox"
  grep -q '^path = "/var/spool/certinbox/inbox"$' "$config" ||
    fail "$config has no inbox at /var/spool/certinbox/inbox"
  ! grep -q '\.\./var' "$config" || fail "$config still names ../var paths"
  "$certinboxd" --config "$config" --check >/dev/null ||
    fail "certinboxd --check refuses the installed config"
}

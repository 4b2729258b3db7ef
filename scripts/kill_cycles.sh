#!/usr/bin/env bash
# scripts/kill_cycles.sh [N]: crash consistency under SIGKILL. N cycles (default 50) of: start
# certinboxd on a scratch state dir, drop 20 new real certificate files, SIGKILL it at a random
# moment (while it starts, imports, or idles). Then one last start imports what is left, and
# the run checks: all 20*N files imported exactly once, exactly one cert.imported each, no gap
# in seq, nothing in failed/, PRAGMA integrity_check ok. Exit status 0 only if all hold.
#
# Uses the built binaries: CERTINBOXD and CERTINBOX_MAKE_CERTS (tests/testing/make_certs.cc),
# by default from BUILD_DIR (build/). Without the helper it makes the files with openssl.
# KEEP=1 keeps the scratch folder. CTest runs it with N=50 in the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."

cycles=${1:-50}
per_cycle=20
build_dir=${BUILD_DIR:-build}
daemon=${CERTINBOXD:-$build_dir/daemon/certinboxd}
make_certs=${CERTINBOX_MAKE_CERTS:-$build_dir/tests/certinbox-make-certs}
for tool in "$daemon" sqlite3; do
  command -v "$tool" >/dev/null || { echo "kill_cycles: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/certinbox-kill-XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work/inbox" "$work/state" "$work/new"
cat >"$work/certinbox.toml" <<TOML
[daemon]
state_dir = "$work/state"

[http]
listen = ""

[[inbox]]
path = "$work/inbox"
name = "inbox"
settle_ms = 20
rescan_interval = "1s"
TOML

# The files of every cycle, made up front (the same filesystem as the inbox: a rename drops).
if [ -x "$make_certs" ]; then
  for ((c = 0; c < cycles; ++c)); do "$make_certs" "$work/new" "$per_cycle" "c$c"; done
else
  command -v openssl >/dev/null || { echo "kill_cycles: neither $make_certs nor openssl" >&2; exit 2; }
  for ((c = 0; c < cycles; ++c)); do
    for ((i = 0; i < per_cycle; ++i)); do
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=c$c-$i.kill.test" -addext "subjectAltName=DNS:c$c-$i.kill.test" \
        -keyout "$work/new/c$c-$i.key" -out "$work/new/c$c-$i.crt" 2>/dev/null
      cat "$work/new/c$c-$i.crt" "$work/new/c$c-$i.key" >"$work/new/c$c-$i.pem"
      rm -f "$work/new/c$c-$i.crt" "$work/new/c$c-$i.key"
    done
  done
fi

start_daemon() {
  "$daemon" --config "$work/certinbox.toml" 2>>"$work/daemon.log" &
  pid=$!
}

started=$(date +%s)
for ((c = 0; c < cycles; ++c)); do
  start_daemon
  for ((i = 0; i < per_cycle; ++i)); do mv "$work/new/c$c-$i.pem" "$work/inbox/"; done
  # The random moment: anywhere from before the daemon has opened its database to well after
  # the 20 files are stored.
  sleep "0.$(printf '%03d' $((RANDOM % 600)))"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
done

# One last run imports what the kills left in the inbox; it is done when it has started (its
# signal handlers are in place) and no file is left.
runs_started() { grep -c "certinboxd .* started" "$work/daemon.log" || true; }
before=$(runs_started)
start_daemon
for ((t = 0; t < 300 && $(runs_started) == before; ++t)); do sleep 0.1; done
waiting() { find "$work/inbox" -maxdepth 1 -type f | wc -l; }
for ((t = 0; t < 600 && $(waiting) > 0; ++t)); do sleep 0.1; done
left=$(waiting)
kill -TERM "$pid"
stopped=0
wait "$pid" || stopped=$?
pid=""

db="$work/state/certinbox.db"
q() { sqlite3 "$db" "$1"; }
expected=$((cycles * per_cycle))
imported=$(q "SELECT count(*) FROM events WHERE type = 'cert.imported'")
distinct=$(q "SELECT count(DISTINCT json_extract(payload, '$.certificate.fingerprint_sha256'))
              FROM events WHERE type = 'cert.imported'")
versions=$(q "SELECT count(*) FROM versions")
gaps=$(q "SELECT count(*) - (max(seq) - min(seq) + 1) + (min(seq) - 1) FROM events")
integrity=$(q "PRAGMA integrity_check")
failed=$(find "$work/inbox/failed" -type f 2>/dev/null | wc -l)

echo "kill_cycles: $cycles cycles in $(($(date +%s) - started)) s: $imported cert.imported" \
  "($distinct distinct) for $expected files, $versions versions, $left left in the inbox," \
  "$failed in failed/, seq gaps $gaps, integrity_check $integrity"
status=0
[ "$stopped" -eq 0 ] || { echo "FAIL: the last run exited with $stopped after SIGTERM" >&2; status=1; }
[ "$left" -eq 0 ] || { echo "FAIL: $left files still in the inbox" >&2; status=1; }
[ "$imported" -eq "$expected" ] || { echo "FAIL: $imported cert.imported, expected $expected" >&2; status=1; }
[ "$distinct" -eq "$expected" ] || { echo "FAIL: $distinct distinct certificates imported" >&2; status=1; }
[ "$versions" -eq "$expected" ] || { echo "FAIL: $versions versions stored" >&2; status=1; }
[ "$gaps" -eq 0 ] || { echo "FAIL: the seq has gaps" >&2; status=1; }
[ "$failed" -eq 0 ] || { echo "FAIL: $failed files in failed/" >&2; ls "$work/inbox/failed" >&2; status=1; }
[ "$integrity" = ok ] || { echo "FAIL: integrity_check: $integrity" >&2; status=1; }
if [ "$status" -ne 0 ]; then tail -n 50 "$work/daemon.log" >&2; KEEP=1; fi
exit "$status"

#!/usr/bin/env bash
# Installs the Debian packages certinbox builds and tests with, only those that are missing.
set -euo pipefail

packages=(
  cmake g++ ninja-build pkg-config
  clang-format  # scripts/check_format.sh, run by scripts/test.sh
  libuv1-dev libssl-dev openssl libzmq3-dev cppzmq-dev libsqlite3-dev sqlite3
  libtomlplusplus-dev libgtest-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libcurl4-openssl-dev ca-certificates
  libjemalloc-dev  # certinboxd's allocator (CMakeLists.txt: CERTINBOX_JEMALLOC)
  libmicrohttpd-dev  # the [http] listener (http/server.cc)
  libsystemd-dev  # sd_notify for the Type=notify unit (daemon/service_notifier.cc)
  systemd  # systemd-analyze verify of etc/systemd/certinboxd.service (tests/install/)
  dpkg-dev  # dpkg-shlibdeps: the .deb's Depends, computed by CPack (tests/install/)
  prometheus  # a real Prometheus (tests/integration/http_test.cc), promtool (also tests/alerts/)
  nginx  # the end-to-end test of the deploy plugin (tests/integration/nginx_test.cc)
  python3 python3-zmq  # docs/examples/plugin.py and its test
  strace  # tests/integration/durability_test.cc traces the daemon's syncs
  curl  # bench/ls_bench.cc times GET /metrics with it
  chromium chromium-driver  # the web page's tests in a real headless browser (tests/web/)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

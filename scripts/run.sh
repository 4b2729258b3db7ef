#!/usr/bin/env bash
# README command 1: install what is missing, build, and run certinboxd on etc/certinbox.toml,
# which keeps state, inbox and sockets under var/ in this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
CERTINBOX_BUILD_TESTS=OFF scripts/build.sh -DCERTINBOX_BUILD_TESTS=OFF -DCERTINBOX_BUILD_BENCH=OFF
config=${CERTINBOX_CONFIG:-etc/certinbox.toml}
echo "certinboxd: config $config; drop files into var/inbox/; in another shell:"
echo "  build/cli/certinbox --config $config ls"
exec build/daemon/certinboxd --config "$config"

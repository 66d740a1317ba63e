#!/usr/bin/env bash
# test.sh - the project's one test command (README, .ci/run), for a fresh Debian 12 machine
# running as root: installs the Debian packages and the pinned toolchain it needs (cached
# outside the repo), then runs every check and test, acceptance tests with a real packer
# binary, real loop mounts and qemu included.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v make >/dev/null || { apt-get update -qq && apt-get install -y -qq make >/dev/null; }
exec make test "$@"

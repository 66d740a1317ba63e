#!/usr/bin/env bash
# run-example.sh - the main job on a fresh Debian 12 machine (as root): installs what it needs,
# builds the built-in sample image (a bootable Debian 12 disk, cached), installs the plugin
# and runs `packer build example/local.pkr.hcl` on it. No cloud needed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v make >/dev/null || { apt-get update -qq && apt-get install -y -qq make >/dev/null; }
exec make run-example "$@"

#!/usr/bin/env bash
# tools.sh - put the pinned packer and packer-sdc in $CHROMOGENIC_CACHE/bin (outside the repo).
# packer is built once per version (scripts/get-packer.sh); packer-sdc is built from the
# version pinned by this module's `tool` directive, so it always matches the SDK in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${CHROMOGENIC_CACHE:-/var/cache/chromogenic}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
packer="$(bash scripts/get-packer.sh | tail -n 1)"
ln -sfn "$packer" "$BIN/packer"
sdk="$(go list -m -f '{{.Version}}' github.com/hashicorp/packer-plugin-sdk)"
if [ ! -x "$BIN/packer-sdc-$sdk" ]; then
  echo ">> building packer-sdc $sdk" >&2
  CGO_ENABLED=0 go build -trimpath -o "$BIN/packer-sdc-$sdk.tmp" github.com/hashicorp/packer-plugin-sdk/cmd/packer-sdc
  mv "$BIN/packer-sdc-$sdk.tmp" "$BIN/packer-sdc-$sdk"
fi
ln -sfn "$BIN/packer-sdc-$sdk" "$BIN/packer-sdc"
echo "$BIN"

#!/usr/bin/env bash
# get-goreleaser.sh - build the pinned goreleaser from the Go module proxy and cache it outside
# the repo. The version is the one tools/goreleaser/go.mod pins (a module of its own, so the
# plugin's go.mod does not carry goreleaser's dependencies).
#
# The cache is keyed by goreleaser version, Go version and host platform, so a toolchain change
# rebuilds it; a lock keeps two runs from building it at once. Prints the path of the
# goreleaser binary on its last line.
#   CHROMOGENIC_CACHE (default /var/cache/chromogenic)
set -euo pipefail
cd "$(dirname "$0")/../tools/goreleaser"

CACHE="${CHROMOGENIC_CACHE:-/var/cache/chromogenic}"
mod=github.com/goreleaser/goreleaser/v2
ver="$(go list -m -f '{{.Version}}' "$mod")"
key="goreleaser-${ver}-$(go env GOVERSION)-$(go env GOOS)_$(go env GOARCH)"
dir="$CACHE/$key"
bin="$dir/goreleaser"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.$key.lock"
flock 9
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

echo ">> building goreleaser ${ver} into $dir (first time only: several minutes)" >&2
mkdir -p "$dir"
CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
  go build -trimpath -ldflags "-s -w -X main.version=${ver#v}" -o "$bin.tmp" "$mod"
mv "$bin.tmp" "$bin"
"$bin" --version >&2
echo "$bin"

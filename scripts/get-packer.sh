#!/usr/bin/env bash
# get-packer.sh - build the pinned Packer from the Go module proxy and cache it outside the repo.
#
# `go install github.com/hashicorp/packer@vX` cannot work: packer's go.mod carries a replace
# directive and the proxy here refuses version lists. So the module is downloaded and built
# inside its module-cache directory, where its own go.mod is the main module.
#
# The cache is keyed by Packer version and Go version, so a toolchain change rebuilds it.
# Prints the path of the packer binary on its last line.
#   PACKER_VERSION (default v1.16.0), CHROMOGENIC_CACHE (default /var/cache/chromogenic)
set -euo pipefail

PACKER_VERSION="${PACKER_VERSION:-v1.16.0}"
CACHE="${CHROMOGENIC_CACHE:-/var/cache/chromogenic}"
key="packer-${PACKER_VERSION}-$(go env GOVERSION)-$(go env GOOS)_$(go env GOARCH)"
dir="$CACHE/$key"
bin="$dir/packer"

if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -qx "Packer ${PACKER_VERSION}"; then
  echo "$bin"
  exit 0
fi

echo ">> building packer ${PACKER_VERSION} into $dir (first time only: 15-20 min)" >&2
mkdir -p "$dir"
json="$(go mod download -json "github.com/hashicorp/packer@${PACKER_VERSION}")"
src="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ]; then
  printf 'go mod download github.com/hashicorp/packer@%s failed:\n%s\n' "$PACKER_VERSION" "$json" >&2
  exit 1
fi
# Releases are CGO-free; -mod=readonly because the module cache is read-only.
(cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
  go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
"$bin" version >&2
echo "$bin"

#!/usr/bin/env bash
# compile-to-webdocs.sh ROOT RENDERED_DOCS WEBDOCS ORG
# Turns the rendered docs (packer-sdc renderdocs output) into the .web-docs layout the Packer
# integrations site reads: README.md from docs/README.md, and one README.md per component
# under components/<builder|provisioner|post-processor|data-source>/<slug>/, without the
# front matter and the top-level title. Also writes metadata.hcl listing the components.
set -euo pipefail
root=$1 src=$2 dst=$3 org=$4
rm -rf "$dst/components" "$dst/README.md" "$dst/metadata.hcl"
mkdir -p "$dst/components"
strip() { # drop YAML front matter and the first "# Title" line
  awk 'NR==1 && /^---$/ {fm=1; next} fm && /^---$/ {fm=0; next} fm {next}
       !done && /^# / {done=1; next} {print}' "$1"
}
strip "$src/README.md" > "$dst/README.md"
{
  echo "# For full specification of attributes, see https://developer.hashicorp.com/packer/docs/plugins/creation/integration-metadata"
  echo "integration {"
  echo "  name = \"Chromogenic\""
  echo "  description = \"Capture, clean, convert and migrate machine images across clouds.\""
  echo "  identifier = \"packer/$org/chromogenic\""
  echo "  component {"
  first=1
  for kind in builders provisioners post-processors datasources; do
    [ -d "$src/$kind" ] || continue
    case $kind in
      builders) type=builder ;; provisioners) type=provisioner ;;
      post-processors) type=post-processor ;; datasources) type=data-source ;;
    esac
    for f in "$src/$kind"/*.mdx; do
      [ -e "$f" ] || continue
      slug=$(basename "$f" .mdx)
      mkdir -p "$dst/components/$type/$slug"
      strip "$f" > "$dst/components/$type/$slug/README.md"
      title=$(sed -n 's/^page_title: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$f" | head -1)
      [ $first = 1 ] || { echo "  }"; echo "  component {"; }
      first=0
      echo "    type = \"$type\""
      echo "    name = \"${title:-$slug}\""
      echo "    slug = \"$slug\""
    done
  done
  echo "  }"
  echo "}"
} > "$dst/metadata.hcl"

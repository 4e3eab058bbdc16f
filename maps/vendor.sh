#!/usr/bin/env bash
# Copies the pinned browser libraries (package.json) into web/vendor and
# web/basemap. The copied files are committed, so `go build` and CI need no
# Node; re-run this only to upgrade, then `go generate ./maps` to
# re-compress. Needs npm (it only downloads the packages' tarballs).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in $(node -e 'const d=require("./package.json").dependencies;for(const k in d)console.log(k+"@"+d[k])'); do
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
done
for f in "$tmp"/*.tgz; do
  d="$tmp/$(basename "$f" .tgz)"; mkdir -p "$d"; tar -xzf "$f" -C "$d"
done
ml=$(echo "$tmp"/maplibre-gl-*/package)
tj=$(echo "$tmp"/topojson-client-*/package)
wa=$(echo "$tmp"/world-atlas-*/package)
cp "$ml/dist/maplibre-gl.mjs" "$ml/dist/maplibre-gl-worker.mjs" "$ml/dist/maplibre-gl.css" web/vendor/
cp "$ml/LICENSE.txt" web/vendor/LICENSE-maplibre-gl.txt
cp "$tj/dist/topojson-client.min.js" web/vendor/
cp "$tj/LICENSE" web/vendor/LICENSE-topojson-client.txt
cp "$wa/countries-50m.json" web/basemap/
cp "$wa/LICENSE" web/basemap/LICENSE-world-atlas.txt
# No source maps are vendored: drop the comments that point at them.
sed -i '/^\/\/# sourceMappingURL=/d' web/vendor/maplibre-gl.mjs web/vendor/maplibre-gl-worker.mjs

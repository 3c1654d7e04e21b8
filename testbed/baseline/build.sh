#!/usr/bin/env bash
# Builds the upstream baseline collector from manifest.yaml with the repository's pinned ocb and
# prints the binary's path. The binary is cached under ${SIEVE_CACHE_DIR:-$HOME/.cache/sieve},
# keyed by the manifest and Go version, so repeated benchmark runs do not pay for the build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${SIEVE_CACHE_DIR:-$HOME/.cache/sieve}"
ocb="${OCB:-$repo/.tools/bin/builder}"
go_bin="${GO:-go}"

key="$( { cat "$here/manifest.yaml"; "$go_bin" env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)"
out="$cache/baseline-$key"
bin="$out/otelcol-baseline"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

if [[ ! -x "$ocb" ]]; then
  echo ">> building the pinned ocb" >&2
  (cd "$repo/internal/tools" && "$go_bin" build -o "$repo/.tools/bin/" go.opentelemetry.io/collector/cmd/builder) >&2
fi

# Build in a scratch directory and move into place at the end, so an interrupted build never
# leaves a half-written binary that a later run would take for a cached one.
mkdir -p "$cache"
work="$(mktemp -d "$cache/baseline-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
sed "s#OUTPUT_PATH#$work/src#" "$here/manifest.yaml" > "$work/manifest.yaml"
echo ">> building the upstream baseline collector into $out (several minutes on a cold cache)" >&2
# The shared 2-core machine is also running the collector and other builds: keep the compile
# parallelism modest unless the caller asks otherwise.
export GOFLAGS="${GOFLAGS:-} -p=${BASELINE_BUILD_PARALLELISM:-2}"
if ! "$ocb" --config "$work/manifest.yaml" > "$work/ocb.log" 2>&1; then
  cat "$work/ocb.log" >&2
  exit 1
fi
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
mv "$work/src/otelcol-baseline" "$out.tmp/otelcol-baseline"
cp "$here/manifest.yaml" "$out.tmp/manifest.yaml"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$bin"

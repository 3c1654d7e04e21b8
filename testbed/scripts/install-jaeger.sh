#!/usr/bin/env bash
# Builds the Jaeger v2 server (cmd/jaeger, an OpenTelemetry Collector distribution) from its module
# source and caches the binary by version, next to Loki's.
# `go install` cannot build it (its go.mod carries replace directives), so the module is copied
# somewhere writable and built there; a replace that points to a local directory the module zip
# lacks is put back in place from that module's own source, as install-loki.sh does for Loki.
# Prints the path of the binary on stdout; progress goes to stderr.
set -euo pipefail

JAEGER_VERSION="${JAEGER_VERSION:-v1.75.0}"
CACHE_DIR="${SIEVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sieve}"
BIN="$CACHE_DIR/jaeger-$JAEGER_VERSION/jaeger"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

export GOFLAGS=-mod=mod
log() { echo "install-jaeger: $*" >&2; }
moddir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

log "downloading github.com/jaegertracing/jaeger@$JAEGER_VERSION module source"
src=$(moddir "github.com/jaegertracing/jaeger@$JAEGER_VERSION")
[ -d "$src" ] || { log "module source not found"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sieve-jaeger-build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$src" "$work/jaeger"
chmod -R u+w "$work/jaeger"

# Replace directives: those naming a module version resolve from the proxy by themselves; those
# naming a local path (./x or ../x) must exist, so a missing one is filled from the module version
# the require block pins for the replaced path.
awk '{ sub(/^replace[[:space:]]+/, "") } $0 ~ /=>[[:space:]]*\.\.?\// { print $1, $NF }' "$work/jaeger/go.mod" |
  while read -r old path; do
    [ -d "$work/jaeger/$path" ] && continue
    version=$(awk -v m="$old" '$1==m && $2 ~ /^v/ {print $2; exit}' "$work/jaeger/go.mod")
    [ -n "$version" ] || { log "cannot find the version of $old (replaced by $path)"; exit 1; }
    log "downloading $old@$version (replaced by $path in Jaeger's go.mod)"
    dep=$(moddir "$old@$version")
    [ -d "$dep" ] || { log "$old module source not found"; exit 1; }
    mkdir -p "$work/jaeger/$path"
    cp -r "$dep"/. "$work/jaeger/$path/"
    chmod -R u+w "$work/jaeger/$path"
  done

log "building cmd/jaeger (9 to 15 minutes on 2 cores with a cold Go cache)"
mkdir -p "$(dirname "$BIN")"
# A per-process temporary name: two test packages may build at once on a cold cache.
(cd "$work/jaeger" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp.$$" ./cmd/jaeger)
mv "$BIN.tmp.$$" "$BIN"
log "built $BIN"
echo "$BIN"

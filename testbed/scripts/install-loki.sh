#!/usr/bin/env bash
# Builds the Loki server from its module source and caches the binary by version.
# `go install` cannot build Loki (its go.mod carries replace directives), so the module
# is copied somewhere writable and its replaced pkg/push module is put back in place.
# Prints the path of the binary on stdout; progress goes to stderr.
set -euo pipefail

LOKI_VERSION="${LOKI_VERSION:-v3.5.7}"
CACHE_DIR="${SIEVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sieve}"
BIN="$CACHE_DIR/loki-$LOKI_VERSION/loki"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

export GOFLAGS=-mod=mod
log() { echo "install-loki: $*" >&2; }

log "downloading github.com/grafana/loki/v3@$LOKI_VERSION module source"
src=$(go mod download -json "github.com/grafana/loki/v3@$LOKI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { log "module source not found"; exit 1; }

push_version=$(awk '$1=="github.com/grafana/loki/pkg/push" && $2 ~ /^v/ {print $2; exit}' "$src/go.mod")
[ -n "$push_version" ] || { log "cannot find the pkg/push version in Loki's go.mod"; exit 1; }
log "downloading github.com/grafana/loki/pkg/push@$push_version (replaced by ./pkg/push in Loki's go.mod)"
push_src=$(go mod download -json "github.com/grafana/loki/pkg/push@$push_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$push_src" ] || { log "pkg/push module source not found"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sieve-loki-build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$src" "$work/loki"
chmod -R u+w "$work/loki"
mkdir -p "$work/loki/pkg/push"
cp -r "$push_src"/. "$work/loki/pkg/push/"
chmod -R u+w "$work/loki/pkg/push"

log "building cmd/loki (takes a few minutes on 2 cores)"
mkdir -p "$(dirname "$BIN")"
(cd "$work/loki" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" ./cmd/loki)
mv "$BIN.tmp" "$BIN"
log "built $BIN"
echo "$BIN"

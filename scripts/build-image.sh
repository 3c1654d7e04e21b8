#!/usr/bin/env bash
# Builds Sieve's container image from bin/sieve and the Containerfile at the repository root:
#   IMAGE=localhost/sieve:dev scripts/build-image.sh      (what `make image` runs)
# The image is FROM scratch, so the binary must be static: a dynamic one would start nowhere but
# fail in the container with a bare "no such file or directory", so it is refused here instead.
# The build context is staged in .tools/image (only what the image holds, not the repository).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "build-image: $*" >&2; }

image=${IMAGE:-localhost/sieve:dev}
bin=${SIEVE_BIN:-$root/bin/sieve}
ca=/etc/ssl/certs/ca-certificates.crt

need=()
command -v file >/dev/null 2>&1 || need+=(file)
[ -f "$ca" ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${need[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x "$bin" ]; then
  log "$bin is missing: run \`make build\` first"
  exit 1
fi
kind=$(file -b "$bin")
case "$kind" in
  *"statically linked"*) ;;
  *)
    log "$bin is not statically linked, and the image has no C library to load it with:"
    log "  $kind"
    log "rebuild it with CGO_ENABLED=0 (the Makefile exports it): rm -f bin/sieve && make build"
    exit 1
    ;;
esac

ctx=$root/.tools/image
mkdir -p "$root/.tools"
# One build at a time: `make image` and the image test may both stage the context.
exec 9>"$root/.tools/image.lock"
flock 9
rm -rf "$ctx"
mkdir -p "$ctx/configs" "$ctx/queue"
chmod 0700 "$ctx/queue"
install -m 0755 "$bin" "$ctx/sieve"
install -m 0644 "$ca" "$ctx/ca-certificates.crt"
install -m 0644 "$root"/configs/*.yaml "$ctx/configs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nsieve:x:10001:10001:sieve:/var/lib/sieve:/sbin/nologin\n' > "$ctx/passwd"
printf 'root:x:0:\nsieve:x:10001:\n' > "$ctx/group"
chmod 0644 "$ctx/passwd" "$ctx/group"

version=$(sed -n 's/^  version: *//p' "$root/builder-config.yaml" | head -1)
revision=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
log "building $image (sieve ${version:-dev}, $revision)"
old=$("$root/scripts/podman.sh" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
start=$(date +%s)
"$root/scripts/podman.sh" build --quiet \
  --file "$root/Containerfile" \
  --build-arg "VERSION=${version:-dev}" \
  --build-arg "REVISION=$revision" \
  --tag "$image" \
  "$ctx" >/dev/null
# The image this tag replaced would stay behind untagged, 124 MiB per new binary: remove it with
# its layer chain unless a container still uses it.
new=$("$root/scripts/podman.sh" image inspect --format '{{.Id}}' "$image")
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  "$root/scripts/podman.sh" rmi "$old" >/dev/null 2>&1 || log "kept the previous image ${old:0:12}: a container uses it"
fi
size=$("$root/scripts/podman.sh" image inspect --format '{{.Size}}' "$image")
log "built $image in $(( $(date +%s) - start ))s, $(( size / 1024 / 1024 )) MiB"

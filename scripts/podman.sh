#!/usr/bin/env bash
# Runs podman with the settings Sieve's image build and image tests need on restricted hosts
# (VMs and containers without systemd, where the process may not raise its own rlimits):
#   scripts/podman.sh build ...   scripts/podman.sh run ...   (any podman arguments)
# Installs podman and runc with apt when they are missing. The settings stay out of the image and
# out of the system's /etc/containers: they are passed on each call.
#   - runc: the runtime Debian ships with podman and the one these settings were checked with.
#   - cgroupfs: the systemd cgroup manager needs a running systemd (absent in VMs built for CI).
#   - default_ulimits = []: podman otherwise asks the runtime to set RLIMIT_NOFILE to its
#     default, which fails with "error setting rlimit type 7: operation not permitted" where the
#     host forbids raising it; with none set, the container inherits podman's own limits.
# The containers.conf is written under SIEVE_PODMAN_DIR (default .tools/podman in the repository).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "podman.sh: $*" >&2; }

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${missing[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dir=${SIEVE_PODMAN_DIR:-$root/.tools/podman}
mkdir -p "$dir"
conf=$dir/containers.conf
want='# Written by scripts/podman.sh: see the comments there.
[containers]
default_ulimits = []'
# Rewritten only when it differs, so that concurrent calls never read a half-written file.
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  tmp=$(mktemp "$dir/containers.conf.XXXXXX")
  printf '%s\n' "$want" > "$tmp"
  mv -f "$tmp" "$conf"
fi

CONTAINERS_CONF=$conf exec podman --runtime runc --cgroup-manager cgroupfs "$@"

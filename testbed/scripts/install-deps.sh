#!/usr/bin/env bash
# Installs what Sieve's tests and demo need on a fresh machine: Prometheus (with promtool), etcd,
# podman and runc (the container image test) from the distribution's packages, and a Loki server
# and a Jaeger v2 server built from their module sources.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "install-deps: $*" >&2; }

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
# kubectl (with kustomize built in) renders deploy/kubernetes for testbed/deploy; its `podman kube
# play` test needs catatonit, from which podman builds the pods' infra (pause) image.
command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)
command -v catatonit >/dev/null 2>&1 || [ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${missing[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a system Prometheus on :9090; Sieve's tests start their own on free
# ports, so the system one is left as the administrator configured it.
log "prometheus: $(prometheus --version 2>&1 | head -1)"
log "etcd: $(etcd --version 2>&1 | head -1)"
log "kubectl: $(kubectl version --client 2>&1 | head -1)"
log "podman: $(podman --version 2>&1 | head -1), runc: $(runc --version 2>&1 | head -1)"
loki=$("$here/install-loki.sh")
log "loki: $loki"
jaeger=$("$here/install-jaeger.sh")
log "jaeger: $jaeger"

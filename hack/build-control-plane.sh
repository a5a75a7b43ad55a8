#!/usr/bin/env bash
# Builds a real kube-apiserver, kube-controller-manager and etcd from the Go module
# proxy into a cache outside the repository. Rebuilds only when a pinned version changes.
# Prints the directory holding the binaries on its last line.
#
#   hack/build-control-plane.sh          # etcd, kube-apiserver, kube-controller-manager, kubectl
#   hack/build-control-plane.sh --node   # also kubelet and kube-scheduler (hack/node.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Stamp the version the way the upstream release build does: the apiserver derives its
# default feature gates and emulation version from it.
kube_ldflags() {
  local minor="${KUBE_VERSION#*.}" pkg="k8s.io/component-base/version"
  echo "-s -w -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=${KUBE_VERSION%%.*}" \
    "-X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}

build_kube() {
  local out="$BERTH_BIN_DIR/kube-$KUBE_VERSION"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/kubectl" ]]; then return; fi
  local mod="$BERTH_CACHE/build/kube-$KUBE_VERSION"
  mkdir -p "$mod" "$out"
  local minor="${KUBE_VERSION#*.}"
  local staging="v0.${minor}"
  {
    echo "module berth.dev/hack/kube"
    echo "go 1.24.0"
    echo "require k8s.io/kubernetes v$KUBE_VERSION"
    echo "replace ("
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
      cloud-provider cluster-bootstrap code-generator component-base component-helpers \
      controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
      endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
      kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
      sample-apiserver sample-cli-plugin sample-controller; do
      echo "  k8s.io/$m => k8s.io/$m $staging"
    done
    echo ")"
  } > "$mod/go.mod"
  log "building kube-apiserver, kube-controller-manager and kubectl v$KUBE_VERSION (first time: 10-25 min on 2 cores)"
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags="$(kube_ldflags)" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local out="$BERTH_BIN_DIR/etcd-$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then return; fi
  local mod="$BERTH_CACHE/build/etcd-$ETCD_VERSION"
  mkdir -p "$mod" "$out"
  cat > "$mod/go.mod" <<MOD
module berth.dev/hack/etcd
go 1.24.0
require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
MOD
  cat > "$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd v$ETCD_VERSION"
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$out/etcd" .)
}

# kubelet and kube-scheduler, from the same module as the API server (no version skew).
build_node() {
  local out="$BERTH_BIN_DIR/kube-$KUBE_VERSION"
  if [[ -x "$out/kubelet" && -x "$out/kube-scheduler" ]]; then return; fi
  local mod="$BERTH_CACHE/build/kube-$KUBE_VERSION"
  log "building kubelet and kube-scheduler v$KUBE_VERSION (first time: about 3 min on 2 cores)"
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags="$(kube_ldflags)" -o "$out/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler)
}

build_etcd
build_kube
if [[ "${1:-}" == --node ]]; then build_node; fi
echo "$BERTH_BIN_DIR"

#!/usr/bin/env bash
# Builds the real Kubernetes binaries the local control plane runs, from the Go module proxy,
# once per version, into a cache outside the repository. Part of the package (a pip-installed
# `nodewave cluster up` runs it too, through localcluster/controlplane.find_binaries); needs Go.
#
# Why a wrapper module: k8s.io/kubernetes requires its ~30 staging modules at v0.0.0 and
# replaces them with ./staging paths, so `go install k8s.io/kubernetes/cmd/...@vX` is refused.
# A module of our own that requires k8s.io/kubernetes and replaces every staging module with
# its published v0.X.Y resolves. etcd and kwok get separate wrapper modules so their
# dependency graphs never pull each other.
#
# Idempotent: a binary that exists (and answers --version) is not rebuilt.
# NODEWAVE_BIN_DIR pointing at a directory that already holds every binary skips all of this.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CLI_UTILS_VERSION="${CLI_UTILS_VERSION:-v0.37.2}"
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.1}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"  # Prometheus 3.16.0 (its Go module's version)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${NODEWAVE_CACHE:-$HOME/.cache/nodewave}"
export GOMODCACHE="${GOMODCACHE:-$CACHE/go/mod}"
export GOCACHE="${GOCACHE:-$CACHE/go/build}"
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

BIN="${NODEWAVE_BIN_DIR:-$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION}"
mkdir -p "$BIN" "$CACHE/src"

log() { printf '[build-binaries] %s\n' "$*" >&2; }
have() { [ -x "$BIN/$1" ]; }

build_k8s() {
  local want=("$@") missing=()
  [ ${#want[@]} -gt 0 ] || want=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)
  for b in "${want[@]}"; do have "$b" || missing+=("$b"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "building ${missing[*]} $K8S_VERSION (cold: about 10 min on 2 cores)"
  local src="$CACHE/src/k8s-$K8S_VERSION" minor="${K8S_VERSION#v1.}"
  local staging_version="v0.${minor}"
  minor="${minor%%.*}"
  mkdir -p "$src"; cd "$src"
  if [ ! -f go.mod ]; then
    go mod init nodewave.local/k8s-binaries >/dev/null 2>&1
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    # Every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.N.P".
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u |
      while read -r mod; do go mod edit -replace "$mod=$mod@$staging_version"; done
    go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
    local pkgs=()
    for b in "${want[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@$K8S_VERSION"); done
    go get -tool "${pkgs[@]}"
  fi
  for b in "${missing[@]}"; do  # a binary asked for later (kind's kubeadm, kube-proxy)
    grep -q "k8s.io/kubernetes/cmd/$b\$" go.mod || go get -tool "k8s.io/kubernetes/cmd/$b@$K8S_VERSION"
  done
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=()
  for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  go build -trimpath -tags selinux,notest -ldflags "$ld" -o "$BIN/" "${pkgs[@]}"
}

build_etcd() {
  have etcd && return 0
  log "building etcd $ETCD_VERSION"
  local src="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$src"; cd "$src"
  if [ ! -f go.mod ]; then
    go mod init nodewave.local/etcd-binary >/dev/null 2>&1
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  fi
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
}

build_kwok() {
  have kwok && return 0
  log "building kwok $KWOK_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

build_helm() {
  have helm && return 0
  log "building helm $HELM_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_kstatus() {
  # cli-utils' kstatus library behind a tiny main of ours (kstatus/ here), for the GitOps tests.
  local src="$CACHE/src/kstatus-$CLI_UTILS_VERSION"
  have kstatus && cmp -s "$HERE/kstatus/main.go" "$src/main.go" && return 0
  log "building kstatus (sigs.k8s.io/cli-utils $CLI_UTILS_VERSION)"
  mkdir -p "$src"
  cp "$HERE/kstatus/main.go" "$src/main.go"
  cd "$src"
  if [ ! -f go.mod ]; then
    go mod init nodewave.local/kstatus >/dev/null 2>&1
    go get "sigs.k8s.io/cli-utils@$CLI_UTILS_VERSION"
    go mod tidy
  fi
  go build -trimpath -ldflags "-s -w" -o "$BIN/kstatus" .
}

go_install() {  # go_install BINARY MODULE/PATH@VERSION: a released tool, by its own go.mod
  have "$1" && return 0
  log "building $1 (${2##*/})"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "$2"
}

build_kind() {
  # What a kind cluster of this version needs beside the binaries above (hack/kind/): the kind
  # CLI, kubeadm and kube-proxy of the same Kubernetes, crictl, CoreDNS and the
  # local-path-provisioner (the only version the module proxy serves; kind's own is v0.0.34).
  build_k8s kubeadm kube-proxy
  go_install kind "sigs.k8s.io/kind@$KIND_VERSION"
  go_install crictl "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  go_install coredns "github.com/coredns/coredns@$COREDNS_VERSION"
  go_install local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"
  # The kind test's Prometheus, which must find the operator's pods as a ServiceMonitor does:
  # Debian's package has no Kubernetes discovery. Only that discovery is built in (the tags
  # Prometheus has for it); in a directory of its own, so it shadows no Debian binary on PATH.
  have for-kind/prometheus && return 0
  log "building prometheus for kind (Kubernetes discovery only)"
  GOBIN="$BIN/for-kind" go install -trimpath -tags remove_all_sd,enable_kubernetes_sd \
    -ldflags "-s -w" "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION"
}

what="${1:-all}"
case "$what" in
  all) build_etcd; build_kwok; build_k8s; build_helm; build_kstatus ;;
  etcd|kwok|k8s|helm|kstatus|kind) "build_$what" ;;
  *) echo "usage: $0 [all|etcd|kwok|k8s|helm|kstatus|kind]" >&2; exit 2 ;;
esac
log "binaries in $BIN"
echo "$BIN"

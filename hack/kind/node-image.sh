#!/usr/bin/env bash
# Builds the kind node image (Kubernetes $K8S_VERSION) on this machine, from Debian's packages
# and the Go module proxy only: no image is pulled. Cached by content (this script, images.py,
# kind's base files, the binaries; not cluster.sh); prints the image's tag last. See docs/design.md §6.1.
#
# - the base: debootstrap (bookworm minbase) with kind's own package list, Debian's containerd
#   and runc, and kind's images/base/files (entrypoint, systemd units, containerd config),
#   read from the kind module's source in the Go module cache, with its clean-up steps;
# - the Kubernetes binaries built like the local control plane's (build.sh kind: kubeadm,
#   kube-proxy, crictl, CoreDNS, local-path-provisioner, the kind CLI);
# - the control plane's and add-ons' images, one binary each (kube-proxy on the base, for
#   iptables), as docker-archives under /kind/images, imported by a unit before the kubelet.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ensure_python_env
ensure_binaries all >/dev/null
ensure_binaries kind >/dev/null
ensure_podman
log() { printf '[kind-node-image] %s\n' "$*" >&2; }

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
KIND_SRC="$(GOMODCACHE="$CACHE/go/mod" GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
BIN="$NODEWAVE_BIN_DIR"
KEY="$( (cat "$ROOT/hack/kind/node-image.sh" "$ROOT/hack/kind/images.py" "$ROOT/src/nodewave/localcluster/images.py"
        find "$KIND_SRC/images/base/files" -type f -print0 | sort -z | xargs -0 cat
        for b in kubelet kubeadm kubectl kube-proxy kube-apiserver kube-controller-manager \
                 kube-scheduler etcd crictl coredns local-path-provisioner; do
          sha256sum "$BIN/$b"; done) | sha256sum | cut -c1-12)"
TAG="localhost/nodewave-kind-node:$K8S_VERSION-$KEY"
if podman image exists "$TAG"; then echo "$TAG"; exit 0; fi

WORK="$CACHE/kind/build"
rm -rf "$WORK"; mkdir -p "$WORK"
ROOTFS="$WORK/rootfs"
PACKAGES=systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins
log "base: debootstrap bookworm minbase with kind's packages, containerd and runc (about a minute)"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" \
  http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
# kube-proxy's image is this base: its iptables in legacy mode, as the node's entrypoint
# chooses for the node itself on these machines (no nf_tables rules of the host's to follow).
for t in iptables ip6tables; do chroot "$ROOTFS" update-alternatives --quiet --set "$t" "/usr/sbin/$t-legacy"; done

log "kube-proxy's image: the base (iptables, conntrack) and kube-proxy"
mkdir -p "$WORK/images"
python3 "$ROOT/hack/kind/images.py" "$WORK/images" "$BIN" "$ROOTFS" "$K8S_VERSION" \
  "$KIND_SRC/pkg/build/nodeimage/const_storage.go" "$WORK/default-storage.yaml"

log "kind's base files and clean-up steps"
F="$KIND_SRC/images/base/files"
install -m 0755 "$F"/usr/local/bin/* "$ROOTFS/usr/local/bin/"
mkdir -p "$ROOTFS/kind/bin" "$ROOTFS/kind/manifests" "$ROOTFS/kind/images"
cp -r "$F/kind/." "$ROOTFS/kind/"; chmod -R u+rwX,go+rX "$ROOTFS/kind"; chmod 0755 "$ROOTFS"/kind/bin/*
cp -r "$F/etc/." "$ROOTFS/etc/"
# No CAP_SYS_RESOURCE in these machines' containers: containerd must not ask for a negative
# oom_score_adj (shared/KIND.md), as for the real kubelet nodes (realnode.py).
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$ROOTFS/etc/containerd/config.toml"
pause="$(sed -n 's/^pause=//p' "$WORK/images/tags")"
sed -i "s|sandbox_image = .*|sandbox_image = \"$pause\"|" "$ROOTFS/etc/containerd/config.toml"
for b in containerd containerd-shim-runc-v2 ctr; do ln -sf "/usr/bin/$b" "$ROOTFS/usr/local/bin/$b"; done
mkdir -p "$ROOTFS/opt/cni"; ln -sfn /usr/lib/cni "$ROOTFS/opt/cni/bin"
install -m 0755 "$BIN/kubelet" "$BIN/kubeadm" "$BIN/kubectl" "$ROOTFS/usr/bin/"
install -m 0755 "$BIN/crictl" "$ROOTFS/usr/local/bin/"
echo "$K8S_VERSION" >"$ROOTFS/kind/version"
cp "$WORK/default-storage.yaml" "$ROOTFS/kind/manifests/default-storage.yaml"
# The cluster's CNI is set up by hack/kind/cluster.sh (disableDefaultCNI); kind reads no file.
printf '# nodewave: the CNI is configured by hack/kind/cluster.sh\n' >"$ROOTFS/kind/manifests/default-cni.yaml"
mv "$WORK"/images/*.tar "$ROOTFS/kind/images/"
cat >"$ROOTFS/etc/systemd/system/kind-images.service" <<'UNIT'
[Unit]
Description=Import the node's images (no registry to pull from)
After=containerd.service
Requires=containerd.service
Before=kubelet.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for f in /kind/images/*.tar; do ctr -n k8s.io images import --no-unpack "$f" >/dev/null || exit 1; done'
[Install]
WantedBy=multi-user.target
UNIT
chroot "$ROOTFS" /bin/sh -euc '
  find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
  rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
        /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
        /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
  echo ReadKMsg=no >>/etc/systemd/journald.conf
  ln -sf /usr/lib/systemd/systemd /sbin/init
  systemctl enable kubelet.service containerd.service undo-mount-hacks.service kind-images.service >/dev/null 2>&1
  systemctl mask systemd-binfmt.service >/dev/null 2>&1
  mkdir -p /etc/kubernetes/manifests
  # The base OCI spec the CRI plugin reads (it refuses to start without it), as kind makes it.
  ctr oci spec | jq ".hooks.createContainer[.hooks.createContainer | length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" |
    jq "del(.process.rlimits)" >/etc/containerd/cri-base.json
'

log "importing $TAG"
tar -C "$ROOTFS" -c . | podman import --quiet \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' --change 'ENV container=docker' - "$TAG" >/dev/null
rm -rf "$WORK"
# Only the newest node image is kept (each is well over a gigabyte).
podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/nodewave-kind-node:' |
  grep -vx "$TAG" | xargs -r podman rmi --force >/dev/null 2>&1 || true
echo "$TAG"

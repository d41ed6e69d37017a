"""The images a kind node needs, as docker-archives (hack/kind/node-image.sh imports them at
boot): the tags `kubeadm config images list` asks for, and the storage add-on's, each made of
the one binary built here (kube-proxy on the node's base, for iptables and conntrack); pause
and the storage helper are the busybox stand-ins the real nodes use (localcluster/images.py).
Writes `tags` (name=tag lines) and the storage manifest with the stand-ins' tags.

usage: images.py OUT BIN ROOTFS K8S_VERSION CONST_STORAGE_GO STORAGE_YAML
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from nodewave.localcluster.images import (
    ImageSpec,
    build_busybox_layer,
    write_docker_archive,
)

DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def binary_layer(binary: Path, at: str) -> bytes:
    """A layer of one static binary at `at`, with /tmp and an /etc/passwd for non-root users."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, mode in (
            ("etc/passwd", b"root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534::/:/sbin/nologin\n", 0o644),
            ("etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
        tar.add(binary, arcname=at.lstrip("/"), filter=_root_owned)
    return buf.getvalue()


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def rootfs_layer(rootfs: Path, binary: Path, at: str) -> bytes:
    """The node's base with one more binary: kube-proxy needs iptables and conntrack."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(rootfs, arcname=".", filter=_root_owned)
        tar.add(binary, arcname=at.lstrip("/"), filter=_root_owned)
    return buf.getvalue()


def storage(const_go: Path) -> tuple[str, dict[str, str]]:
    """kind's default storage manifest and its two images, from the Go constants."""
    text = const_go.read_text()
    images = dict(re.findall(r'^const (storage\w+Image) = "([^"]+)"', text, re.M))
    body = re.search(r"const defaultStorageManifest = `(.*?)^`", text, re.S | re.M)
    assert body, "kind's storage manifest not found"
    manifest = re.sub(r"` \+ (\w+) \+ `", lambda m: images[m.group(1)], body.group(1))
    return manifest, images


def main(out: Path, bin_dir: Path, rootfs: Path, version: str, const_go: Path, yaml: Path) -> None:
    listed = subprocess.run(
        [str(bin_dir / "kubeadm"), "config", "images", "list", "--kubernetes-version", version],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    tags: dict[str, str] = {tag.rsplit("/", 1)[-1].split(":")[0]: tag for tag in listed}
    manifest, extra = storage(const_go)
    yaml.write_text(manifest)
    busybox = build_busybox_layer()
    images: list[tuple[bytes, ImageSpec]] = []
    for name, tag in tags.items():
        if name == "pause":
            images.append((busybox, ImageSpec(tag, ("sleep",), ("2147483647",))))
        elif name == "kube-proxy":
            images.append((rootfs_layer(rootfs, bin_dir / name, f"/usr/local/bin/{name}"),
                           ImageSpec(tag, (), (), path=DEBIAN_PATH)))  # fmt: skip
        elif name == "coredns":
            images.append((binary_layer(bin_dir / name, "/coredns"), ImageSpec(tag, ("/coredns",), ())))
        else:
            images.append((binary_layer(bin_dir / name, f"/usr/local/bin/{name}"), ImageSpec(tag, (), ())))
    provisioner = extra["storageProvisionerImage"]
    images.append((binary_layer(bin_dir / "local-path-provisioner", "/usr/local/bin/local-path-provisioner"),
                   ImageSpec(provisioner, (), ())))  # fmt: skip
    images.append((busybox, ImageSpec(extra["storageHelperImage"], (), ("sh",))))
    for layer, spec in images:
        write_docker_archive(out / (re.sub(r"[^A-Za-z0-9.-]", "_", spec.name) + ".tar"), layer, spec)
    (out / "tags").write_text("".join(f"{k}={v}\n" for k, v in tags.items()))


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]), sys.argv[4], Path(sys.argv[5]), Path(sys.argv[6]))

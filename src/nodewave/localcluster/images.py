"""Container images for real nodes, built on this machine from the repository's own files:
no registry is reachable here, so nothing is pulled and every image is imported into each
node's containerd.

- `workload` and `pause`: a static busybox (Debian's busybox-static) and `workload/workload.sh`
  in a one-layer docker-archive written here (no container engine needed; the layer is
  deterministic, so the archive is cached by content).
- the public images the examples name (busybox, pause): stand-ins from the same busybox.
- the operator's image: the project's Dockerfile built with podman (`hack/build-image.sh`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

BUSYBOX = Path("/bin/busybox")
WORKLOAD_IMAGE = "localhost/nodewave/workload:1"
PAUSE_IMAGE = "localhost/nodewave/pause:1"
PUBLIC_STAND_INS = (
    # The public images examples/ names, so the examples run here as they are. Stand-ins built
    # from the same static busybox (the version Debian ships, whatever the tag says): the
    # examples use only what every busybox has (sh, sleep, df, httpd), and a pause container
    # only sleeps. Pulled from a registry on any other cluster.
    ("docker.io/library/busybox:1.36", (), ("sh",)),
    ("registry.k8s.io/pause:3.10", ("sleep",), ("2147483647",)),
)
MISSING_IMAGE = "localhost/nodewave/does-not-exist:1"
"""An image no node has and no registry serves: for tests of a version that cannot start."""


def build_workload_template(*args: str, image: str = WORKLOAD_IMAGE) -> dict[str, Any]:
    """A pod template running the test workload (workload/workload.sh) with `args`, with the
    readiness probe the workload answers (the file /tmp/ready)."""
    return {
        "spec": {
            "dnsPolicy": "Default",  # no cluster DNS here
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "args": list(args),
                    "readinessProbe": {
                        "exec": {"command": ["test", "-f", "/tmp/ready"]},
                        "periodSeconds": 1,
                    },
                }
            ],
        }
    }


def cache_dir() -> Path:
    return Path(os.environ.get("NODEWAVE_CACHE", Path.home() / ".cache" / "nodewave")) / "images"


@dataclass(frozen=True)
class ImageSpec:
    name: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    path: str = "/usr/local/bin:/bin"


def _add(
    tar: tarfile.TarFile,
    name: str,
    data: bytes | None = None,
    *,
    mode: int = 0o755,
    link: str | None = None,
) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.mode = mode
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        tar.addfile(info)
    elif data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def build_busybox_layer() -> bytes:
    """/bin/busybox with a link per applet, /usr/local/bin/workload, /tmp and /etc."""
    if not BUSYBOX.exists():
        raise FileNotFoundError(f"{BUSYBOX} missing: install Debian's busybox-static")
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    script = resources.files("nodewave.localcluster").joinpath("workload/workload.sh").read_bytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "usr", "usr/local", "usr/local/bin"):
            _add(tar, d)
        _add(tar, "tmp", mode=0o1777)
        _add(tar, "bin/busybox", BUSYBOX.read_bytes())
        for applet in sorted(set(applets) - {"busybox"}):
            _add(tar, f"bin/{applet}", link="busybox")
        _add(tar, "usr/local/bin/workload", script)
        _add(
            tar,
            "etc/passwd",
            b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
            mode=0o644,
        )
        _add(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", mode=0o644)
    return buf.getvalue()


def write_docker_archive(path: Path, layer: bytes, image: ImageSpec) -> None:
    """The `docker save` layout (manifest.json, config, one layer) that `ctr import` reads."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": list(image.entrypoint),
                "Cmd": list(image.cmd),
                "Env": [f"PATH={image.path}"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [image.name], "Layers": [layer_name]}]
    ).encode()
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, mode="w") as tar:
        _add(tar, layer_name.split("/")[0])
        _add(tar, layer_name, layer, mode=0o644)
        _add(tar, config_name, config, mode=0o644)
        _add(tar, "manifest.json", manifest, mode=0o644)
    tmp.replace(path)


def build_node_images() -> list[Path]:
    """The archives every real node imports (workload, pause, the examples' stand-ins), cached
    by content."""
    layer = build_busybox_layer()
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    archives = []
    for spec in (
        # A pod's `args` choose the behaviour: `args: [exit, "3"]`.
        ImageSpec(WORKLOAD_IMAGE, ("workload",), ("run",)),
        # The sandbox's init: sleeps; containerd stops sandboxes with SIGKILL.
        ImageSpec(PAUSE_IMAGE, ("sleep",), ("2147483647",)),
        *(ImageSpec(*stand_in) for stand_in in PUBLIC_STAND_INS),
    ):
        key = hashlib.sha256(layer + repr(spec).encode()).hexdigest()[:16]
        path = out / f"{spec.name.rsplit('/', 1)[-1].replace(':', '-')}-{key}.tar"
        if not path.exists():
            write_docker_archive(path, layer, spec)
        archives.append(path)
    return archives

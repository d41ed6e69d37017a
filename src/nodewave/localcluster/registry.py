"""A container registry for the local cluster's real nodes, so images are really pulled: what
`rollout.prePull` is proven with (real pull times, real `ErrImagePull`/`ImagePullBackOff`).

- **The registry** is Debian's `docker-registry` (distribution 2.8), a plain process bound to
  the machine's loopback (nothing of ours listens beyond it), storing under the cluster's
  directory, without auth or TLS.
- **Nodes reach it by name.** Images are named `registry.nodewave.test:5000/...`. Inside each
  real node's network namespace a `netproxy` listens on 127.0.0.1:5000 and forwards to the
  registry's loopback port on the machine (a node's namespace has no route beyond the machine,
  realnode.py says why); the node's containerd maps the name to that address over plain HTTP in
  a `hosts.toml` (`config_path`), as a cluster configures a private mirror. The name is never
  looked up in DNS.
- **A slow registry** is that proxy with `--rate` bytes per second per node: the benchmark and
  the tests choose how long a pull takes.
- **Images are pushed** with the registry API from what is built here (no container engine):
  `build_pull_test_image` makes an image with no shell (one static busybox named `/sleep`, and a
  layer of incompressible bytes of the size asked), so every pull moves that many bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nodewave.localcluster.images import BUSYBOX, _add

REGISTRY_HOST = "registry.nodewave.test:5000"
"""The registry's name in image references (resolved by each node's containerd, never DNS)."""
NODE_PORT = 5000
"""Where the registry's proxy listens inside a node's namespace (its own loopback)."""
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class RegistryError(Exception):
    pass


def build_registry_config(directory: Path, port: int) -> dict[str, Any]:
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
    }


def write_registry_config(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(build_registry_config(directory, port)))
    return path


def build_hosts_toml(port: int = NODE_PORT) -> str:
    """containerd's hosts.toml for REGISTRY_HOST: plain HTTP to the proxy on the node's loopback."""
    return (
        f'server = "http://127.0.0.1:{port}"\n\n'
        f'[host."http://127.0.0.1:{port}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=1) as gz:
        gz.write(data)
    return buf.getvalue()


def _layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            _add(tar, name, data)
    return buf.getvalue()


@dataclass(frozen=True)
class PushImage:
    """An image ready to push: its config and layers (gzip), uncompressed digests recorded."""

    config: Blob
    layers: tuple[Blob, ...]

    @property
    def size(self) -> int:
        return sum(len(b.data) for b in self.layers)

    def manifest(self) -> bytes:
        def ref(b: Blob) -> dict[str, Any]:
            return {"mediaType": b.media_type, "size": len(b.data), "digest": b.digest}

        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": ref(self.config),
                "layers": [ref(b) for b in self.layers],
            }
        ).encode()


def build_pull_test_image(payload_bytes: int, seed: str) -> PushImage:
    """An image with no shell: `/sleep` (a static busybox, which acts by its name) as the
    entrypoint, and `/payload`, `payload_bytes` of incompressible bytes drawn from `seed` (each
    seed gives different layers, so no node has them from an earlier pull)."""
    payload = random.Random(seed).randbytes(payload_bytes)
    raw = [_layer({"sleep": BUSYBOX.read_bytes()}), _layer({"payload": payload})]
    layers = tuple(Blob(LAYER_TYPE, _gzip(layer)) for layer in raw)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/sleep"], "Cmd": ["2147483647"], "WorkingDir": "/"},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in raw],
            },
        },
        sort_keys=True,
    ).encode()
    return PushImage(Blob(CONFIG_TYPE, config), layers)


def push_image(port: int, repository: str, tag: str, image: PushImage) -> str:
    """Push `image` to the registry on 127.0.0.1:`port` as `repository:tag` (blobs it has
    already are not sent again); the reference nodes pull it by."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for blob in (image.config, *image.layers):
            _push_blob(conn, repository, blob)
        status, body = _request(
            conn,
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            image.manifest(),
            {"Content-Type": MANIFEST_TYPE},
        )
        if status != 201:
            raise RegistryError(f"manifest of {repository}:{tag} refused: {status} {body!r}")
    finally:
        conn.close()
    return f"{REGISTRY_HOST}/{repository}:{tag}"


def _request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    location = response.getheader("Location") or ""
    return response.status, (location.encode() if response.status == 202 else data)


def _push_blob(conn: http.client.HTTPConnection, repository: str, blob: Blob) -> None:
    status, _ = _request(conn, "HEAD", f"/v2/{repository}/blobs/{blob.digest}")
    if status == 200:
        return
    status, location = _request(conn, "POST", f"/v2/{repository}/blobs/uploads/")
    if status != 202:
        raise RegistryError(f"upload to {repository} refused: {status}")
    url = location.decode()
    path = url.split("://", 1)[-1].partition("/")[2] if "://" in url else url.lstrip("/")
    joiner = "&" if "?" in path else "?"
    status, body = _request(
        conn,
        "PUT",
        f"/{path}{joiner}digest={blob.digest}",
        blob.data,
        {"Content-Type": "application/octet-stream"},
    )
    if status != 201:
        raise RegistryError(f"blob {blob.digest} refused: {status} {body!r}")


def build_registry_template(image: str) -> dict[str, Any]:
    """A pod template running an image of `build_pull_test_image` (no shell: `/sleep` is the
    static busybox), ready once it started: what the tests and the benchmark roll out."""
    return {
        "spec": {
            "dnsPolicy": "Default",  # no cluster DNS here
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/sleep", "3600"],
                    "readinessProbe": {"exec": {"command": ["/sleep", "0"]}, "periodSeconds": 1},
                }
            ],
        }
    }

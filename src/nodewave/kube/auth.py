"""Where the API server is and who we are to it: in a pod its ServiceAccount, else a kubeconfig
read the way kubectl reads it (KUBECONFIG's files merged, first value wins; a named context;
paths relative to their file; tokens, client certificates, basic auth and exec plugins).

Why not kubernetes_asyncio's loader: importing that library loads its 850 generated model
modules, and kopf imports it whenever it is installed. That was 75 MiB of every operator
replica's memory before it watched a single object (a third of the budget at 5,000 nodes) and
1.4 s of every `kubectl nodewave` start. The operator talks JSON over aiohttp (kopf's own HTTP
client) and needs nothing else from it.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0
"""A projected ServiceAccount token is rotated by the kubelet; read it again this often, as
client-go does."""


class ConfigError(Exception):
    """No usable credentials: the message says what is missing or wrong."""


@dataclass
class Credentials:
    server: str
    ca_pem: str | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    token: str | None = None
    token_file: Path | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    username: str | None = None
    password: str | None = None
    exec_plugin: Mapping[str, Any] | None = None
    namespace: str = "default"
    _token_read_at: float = field(default=-1e9, repr=False)
    _expires_at: float | None = field(default=None, repr=False)
    """Monotonic time an exec plugin's credential expires."""

    def authorization(self) -> str | None:
        """The Authorization header, refreshing what may have rotated or expired."""
        if self.token_file is not None and (
            time.monotonic() - self._token_read_at > TOKEN_REREAD_SECONDS
        ):
            self.token = self.token_file.read_text().strip()
            self._token_read_at = time.monotonic()
        if self.exec_plugin is not None and (
            self._expires_at is None or time.monotonic() >= self._expires_at
        ):
            self._run_exec_plugin()
        if self.token:
            return f"Bearer {self.token}"
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return f"Basic {base64.b64encode(raw).decode()}"
        return None

    def expire(self) -> None:
        """The server said 401: read the token or run the plugin again before the next try."""
        self._token_read_at = -1e9
        if self.exec_plugin is not None:
            self._expires_at = None

    @property
    def refreshable(self) -> bool:
        return self.token_file is not None or self.exec_plugin is not None

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cadata=self.ca_pem)
        if self.cert_pem and self.key_pem:
            # ssl loads a client certificate only from files: a private directory, gone at once.
            with tempfile.TemporaryDirectory(prefix="nodewave-tls-") as d:
                cert, key = Path(d, "tls.crt"), Path(d, "tls.key")
                cert.write_bytes(self.cert_pem)
                key.touch(0o600)
                key.write_bytes(self.key_pem)
                ctx.load_cert_chain(cert, key)
        return ctx

    def _run_exec_plugin(self) -> None:
        plugin = self.exec_plugin
        assert plugin is not None
        api_version = plugin.get("apiVersion", "client.authentication.k8s.io/v1")
        env = {**os.environ, **{e["name"]: e["value"] for e in plugin.get("env") or []}}
        env["KUBERNETES_EXEC_INFO"] = json.dumps(
            {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
        )
        argv = [plugin["command"], *(plugin.get("args") or [])]
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ConfigError(f"credential plugin {argv[0]!r} did not run: {e}") from e
        if done.returncode != 0:
            raise ConfigError(
                f"credential plugin {argv[0]!r} exited {done.returncode}: {done.stderr.strip()}"
            )
        try:
            status = json.loads(done.stdout).get("status") or {}
        except json.JSONDecodeError as e:
            raise ConfigError(f"credential plugin {argv[0]!r} printed no ExecCredential") from e
        self.token = status.get("token")
        if status.get("clientCertificateData"):
            self.cert_pem = status["clientCertificateData"].encode()
            self.key_pem = status.get("clientKeyData", "").encode()
        expires = status.get("expirationTimestamp")
        if expires:
            left = datetime.fromisoformat(expires.replace("Z", "+00:00")) - datetime.now(UTC)
            self._expires_at = time.monotonic() + left.total_seconds() - 10
        else:
            self._expires_at = float("inf")


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").exists()


def load_credentials(config_file: str | None = None, context: str | None = None) -> Credentials:
    """In a pod (and no kubeconfig or context named): its ServiceAccount. Else the kubeconfig:
    `config_file`, else $KUBECONFIG, else ~/.kube/config; its current context unless named."""
    if not config_file and not context and in_cluster():
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        host = f"[{host}]" if ":" in host else host
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        namespace = SERVICE_ACCOUNT / "namespace"
        return Credentials(
            server=f"https://{host}:{port}",
            ca_pem=(SERVICE_ACCOUNT / "ca.crt").read_text(),
            token_file=SERVICE_ACCOUNT / "token",
            namespace=namespace.read_text().strip() if namespace.exists() else "default",
        )
    return _from_kubeconfig(config_file, context)


def kubeconfig_paths(config_file: str | None) -> list[Path]:
    if config_file:
        return [Path(config_file).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _from_kubeconfig(config_file: str | None, context: str | None) -> Credentials:
    merged: dict[str, dict[str, tuple[dict[str, Any], Path]]] = {
        "contexts": {}, "clusters": {}, "users": {}
    }  # fmt: skip
    current = None
    for path in kubeconfig_paths(config_file):
        if not path.exists():
            if config_file:
                raise ConfigError(f"kubeconfig {path} does not exist")
            continue
        doc = yaml.safe_load(path.read_text()) or {}
        current = current or doc.get("current-context")
        for section, key in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for item in doc.get(section) or []:
                merged[section].setdefault(item["name"], (item.get(key) or {}, path.parent))
    name = context or current
    if not name:
        raise ConfigError(
            "no Kubernetes credentials: not in a pod, and no current context in "
            + ", ".join(str(p) for p in kubeconfig_paths(config_file))
        )
    if name not in merged["contexts"]:
        raise ConfigError(f"context {name!r} not found in the kubeconfig")
    ctx, _ = merged["contexts"][name]
    cluster, cluster_dir = merged["clusters"].get(ctx.get("cluster", ""), ({}, Path()))
    user, user_dir = merged["users"].get(ctx.get("user", ""), ({}, Path()))
    if not cluster.get("server"):
        raise ConfigError(f"context {name!r}: cluster {ctx.get('cluster')!r} has no server")
    if user.get("auth-provider"):
        raise ConfigError(
            f"context {name!r}: auth-provider plugins were removed from Kubernetes; "
            "use an exec credential plugin"
        )
    exec_plugin = user.get("exec")
    if exec_plugin and exec_plugin.get("command", "").startswith("."):
        exec_plugin = {**exec_plugin, "command": str(user_dir / exec_plugin["command"])}
    token_file = user.get("tokenFile")
    return Credentials(
        server=cluster["server"].rstrip("/"),
        ca_pem=_pem(cluster, "certificate-authority", cluster_dir, text=True),  # type: ignore[arg-type]
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
        token=user.get("token"),
        token_file=(user_dir / token_file) if token_file else None,
        cert_pem=_pem(user, "client-certificate", user_dir),  # type: ignore[arg-type]
        key_pem=_pem(user, "client-key", user_dir),  # type: ignore[arg-type]
        username=user.get("username"),
        password=user.get("password"),
        exec_plugin=exec_plugin,
        namespace=ctx.get("namespace") or "default",
    )


def _pem(
    section: Mapping[str, Any], key: str, base: Path, text: bool = False
) -> bytes | str | None:
    """`key`-data (base64) or `key` (a file, relative to its kubeconfig)."""
    if section.get(f"{key}-data"):
        raw = base64.b64decode(section[f"{key}-data"])
    elif section.get(key):
        raw = (base / section[key]).expanduser().read_bytes()
    else:
        return None
    return raw.decode() if text else raw

"""Where the API server is and who we are to it: in a pod its ServiceAccount, else a kubeconfig
read the way kubectl reads it (KUBECONFIG's files merged, first value wins; a named context;
paths relative to their file; tokens, client certificates, basic auth and exec plugins; the
cluster's proxy-url, else HTTPS_PROXY/NO_PROXY as client-go reads them).

Exec plugins (aws eks get-token, gke-gcloud-auth-plugin, kubelogin) run as subprocesses of the
event loop, one at a time: a plugin that takes seconds to fetch a token holds the requests that
need it, never the operator's other work (its watches, webhooks, health checks).

Why not kubernetes_asyncio's loader: importing that library loads its 850 generated model
modules, and kopf imports it whenever it is installed. That was 75 MiB of every operator
replica's memory before it watched a single object (a third of the budget at 5,000 nodes) and
1.4 s of every `kubectl nodewave` start. The operator talks JSON over aiohttp (kopf's own HTTP
client) and needs nothing else from it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import signal
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0
"""A projected ServiceAccount token is rotated by the kubelet; read it again this often, as
client-go does."""
EXEC_TIMEOUT_SECONDS = 60.0
EXEC_INFO_KEY = "client.authentication.k8s.io/exec"
"""The cluster extension handed to a plugin that asks for provideClusterInfo."""


class ConfigError(Exception):
    """No usable credentials: the message says what is missing or wrong."""


def _no_proxy_matches(entry: str, host: str, port: int) -> bool:
    """One NO_PROXY entry against the host, as Go's net/http/httpproxy reads it: an address,
    a CIDR, or a domain ("example.com" and ".example.com" match its subdomains, the first also
    itself), each with an optional port."""
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    if entry.startswith("["):  # [v6]:port; "[v6]" alone is no address to Go (a name no host has)
        name, _, rest = entry[1:].partition("]")
        if not rest.startswith(":"):
            return False
        entry_port = rest[1:]
    elif entry.count(":") == 1:
        name, _, entry_port = entry.rpartition(":")
    else:
        name, entry_port = entry, ""
    if entry_port and entry_port != str(port):
        return False
    if name.startswith("*."):
        name = name[1:]
    if name.startswith("."):
        return host.endswith(name)
    return host == name or host.endswith("." + name)


def plan_proxy(server: str, proxy_url: str | None, env: Mapping[str, str]) -> str | None:
    """The proxy requests to `server` go through, or None: the kubeconfig cluster's proxy-url
    for every request, else client-go's environment rules (HTTPS_PROXY or HTTP_PROXY by the
    server's scheme, upper case first; never for localhost or a loopback address; not for a
    host NO_PROXY names). A proxy without a scheme is http://."""
    if proxy_url:
        chosen = proxy_url
    else:
        parts = urlsplit(server)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if host == "localhost" or _is_loopback(host):
            return None
        names = (
            ("HTTPS_PROXY", "https_proxy")
            if parts.scheme == "https"
            else ("HTTP_PROXY", "http_proxy")
        )
        chosen = next((env[n] for n in names if env.get(n)), "")
        no_proxy = env.get("NO_PROXY") or env.get("no_proxy") or ""
        if not chosen or any(_no_proxy_matches(e, host, port) for e in no_proxy.split(",")):
            return None
    if "://" not in chosen:
        chosen = "http://" + chosen
    scheme = chosen.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        where = "the kubeconfig's proxy-url" if proxy_url else "HTTPS_PROXY/HTTP_PROXY"
        raise ConfigError(
            f"proxy {scheme}://{chosen.split('@')[-1].split('://')[-1]} ({where}): only "
            "http:// and https:// proxies are supported"
        )
    return chosen


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    cluster_info: Mapping[str, Any] | None = None
    """What a plugin with provideClusterInfo is told of the cluster (KUBERNETES_EXEC_INFO)."""
    proxy_url: str | None = None
    """The kubeconfig cluster's proxy-url."""
    namespace: str = "default"
    _token_read_at: float = field(default=-1e9, repr=False)
    _expires_at: float | None = field(default=None, repr=False)
    """Monotonic time an exec plugin's credential expires."""
    expiration: datetime | None = field(default=None, repr=False)
    """When an exec plugin's credential expires (kopf logs in again before)."""
    _exec_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = field(
        default=None, repr=False
    )
    _ssl: ssl.SSLContext | bool | None = field(default=None, repr=False)

    impersonation: list[tuple[str, str]] = field(default_factory=list)
    """Impersonate-User/-Group/-Uid headers (kubectl's --as, --as-group, --as-uid)."""

    def use_token(self, token: str) -> None:
        """kubectl's --token: this bearer token instead of the user's token, token file,
        basic auth or plugin (a client certificate, if any, is still presented)."""
        self.token, self.token_file, self.exec_plugin = token, None, None
        self.username = self.password = None

    def impersonate(self, user: str | None, groups: list[str], uid: str | None) -> None:
        if (groups or uid) and not user:
            raise ConfigError("--as-group and --as-uid need --as (whom to impersonate)")
        self.impersonation = (
            ([("Impersonate-User", user)] if user else [])
            + [("Impersonate-Group", g) for g in groups]
            + ([("Impersonate-Uid", uid)] if uid else [])
        )

    @property
    def proxy(self) -> str | None:
        """The proxy for requests to the API server (plan_proxy), or None."""
        return plan_proxy(self.server, self.proxy_url, os.environ)

    async def authorization(self) -> str | None:
        """The Authorization header, refreshing what may have rotated or expired."""
        if self.token_file is not None and (
            time.monotonic() - self._token_read_at > TOKEN_REREAD_SECONDS
        ):
            self.token = self.token_file.read_text().strip()
            self._token_read_at = time.monotonic()
        if self.exec_plugin is not None and self._exec_expired():
            # One run at a time: the requests that find it expired together wait for one.
            async with self._lock():
                if self._exec_expired():
                    await self._run_exec_plugin()
        if self.token:
            return f"Bearer {self.token}"
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return f"Basic {base64.b64encode(raw).decode()}"
        return None

    def _exec_expired(self) -> bool:
        return self._expires_at is None or time.monotonic() >= self._expires_at

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._exec_lock is None or self._exec_lock[0] is not loop:
            self._exec_lock = (loop, asyncio.Lock())
        return self._exec_lock[1]

    def expire(self) -> None:
        """The server said 401: read the token or run the plugin again before the next try."""
        self._token_read_at = -1e9
        if self.exec_plugin is not None:
            self._expires_at = None

    @property
    def refreshable(self) -> bool:
        return self.token_file is not None or self.exec_plugin is not None

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS settings of requests, built once per client certificate (an exec plugin
        may hand out a new one; requests made with the new context open new connections)."""
        if self._ssl is None:
            self._ssl = self._build_ssl_context()
        return self._ssl

    def _build_ssl_context(self) -> ssl.SSLContext | bool:
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

    async def _run_exec_plugin(self) -> None:
        status = await run_exec_plugin(self.exec_plugin or {}, self.cluster_info)
        self.token = status.get("token")
        if status.get("clientCertificateData"):
            cert = status["clientCertificateData"].encode()
            key = status.get("clientKeyData", "").encode()
            if (cert, key) != (self.cert_pem, self.key_pem):
                self.cert_pem, self.key_pem, self._ssl = cert, key, None
        expires = status.get("expirationTimestamp")
        if expires:
            self.expiration = datetime.fromisoformat(expires.replace("Z", "+00:00"))
            if self.expiration.tzinfo is None:  # RFC 3339 says it has one; some plugins omit it
                self.expiration = self.expiration.replace(tzinfo=UTC)
            left = self.expiration - datetime.now(UTC)
            self._expires_at = time.monotonic() + left.total_seconds() - 10
        else:
            self.expiration = None
            self._expires_at = float("inf")


async def run_exec_plugin(
    plugin: Mapping[str, Any], cluster_info: Mapping[str, Any] | None
) -> dict[str, Any]:
    """An ExecCredential's status from a kubeconfig's exec plugin, run without a terminal
    (never interactive: nobody answers a prompt in an operator), within EXEC_TIMEOUT_SECONDS."""
    api_version = plugin.get("apiVersion", "client.authentication.k8s.io/v1")
    env = {**os.environ, **{e["name"]: e["value"] for e in plugin.get("env") or []}}
    spec: dict[str, Any] = {"interactive": False}
    if plugin.get("provideClusterInfo") and cluster_info is not None:
        spec["cluster"] = dict(cluster_info)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": spec}
    )
    argv = [plugin["command"], *(plugin.get("args") or [])]
    try:
        # A session of its own: at the timeout the plugin goes with whatever it started (a
        # child holding its stdout open would keep the read, and every request, waiting).
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
    except OSError as e:
        hint = plugin.get("installHint")
        raise ConfigError(
            f"credential plugin {argv[0]!r} did not run: {e}" + (f"\n{hint}" if hint else "")
        ) from e
    try:
        out, err = await asyncio.wait_for(proc.communicate(), EXEC_TIMEOUT_SECONDS)
    except TimeoutError as e:
        raise ConfigError(
            f"credential plugin {argv[0]!r} gave no credential within {EXEC_TIMEOUT_SECONDS:.0f}s"
        ) from e
    finally:  # a timeout, or the caller cancelled: nothing of the plugin outlives the call
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
    if proc.returncode != 0:
        said = err.decode(errors="replace").strip()[:2000]
        raise ConfigError(f"credential plugin {argv[0]!r} exited {proc.returncode}: {said}")
    try:
        status = json.loads(out).get("status") or {}
    except (json.JSONDecodeError, AttributeError) as e:
        raise ConfigError(f"credential plugin {argv[0]!r} printed no ExecCredential") from e
    return status if isinstance(status, dict) else {}


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
    ca_pem = _pem(cluster, "certificate-authority", cluster_dir, text=True)
    return Credentials(
        server=cluster["server"].rstrip("/"),
        ca_pem=ca_pem,  # type: ignore[arg-type]
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
        token=user.get("token"),
        token_file=(user_dir / token_file) if token_file else None,
        cert_pem=_pem(user, "client-certificate", user_dir),  # type: ignore[arg-type]
        key_pem=_pem(user, "client-key", user_dir),  # type: ignore[arg-type]
        username=user.get("username"),
        password=user.get("password"),
        exec_plugin=exec_plugin,
        cluster_info=_cluster_info(cluster, ca_pem),
        proxy_url=cluster.get("proxy-url"),
        namespace=ctx.get("namespace") or "default",
    )


def _cluster_info(cluster: Mapping[str, Any], ca_pem: str | bytes | None) -> dict[str, Any]:
    """The Cluster of KUBERNETES_EXEC_INFO (client.authentication.k8s.io/v1)."""
    info: dict[str, Any] = {"server": cluster["server"]}
    if ca_pem:
        raw = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
        info["certificate-authority-data"] = base64.b64encode(raw).decode()
    for key in ("tls-server-name", "insecure-skip-tls-verify", "proxy-url"):
        if cluster.get(key):
            info[key] = cluster[key]
    for extension in cluster.get("extensions") or []:
        if extension.get("name") == EXEC_INFO_KEY:
            info["config"] = extension.get("extension")
    return info


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

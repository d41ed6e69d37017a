"""Credentials (kube/auth.py) read as kubectl reads them, and the client's answer to a 401 (a
rotated token read again, once). The API server here is a loopback aiohttp server."""

from __future__ import annotations

import asyncio
import base64
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from nodewave.kube.auth import ConfigError, load_credentials
from nodewave.kube.client import Kube, KubeError, default_namespace


def kubeconfig(path: Path, current: str | None, contexts: dict[str, Any], **sections: Any) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
        "clusters": [{"name": n, "cluster": c} for n, c in sections.get("clusters", {}).items()],
        "users": [{"name": n, "user": u} for n, u in sections.get("users", {}).items()],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(autouse=True)
def not_in_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def test_kubeconfig_files_merge_first_value_wins_and_paths_are_relative_to_their_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ca.crt").write_text("CA-A")
    first = kubeconfig(
        tmp_path / "a" / "config",
        "dev",
        {"dev": {"cluster": "c", "user": "u", "namespace": "team"}},
        clusters={"c": {"server": "https://a.example:6443/", "certificate-authority": "ca.crt"}},
        users={"u": {"token": "tok-a"}},
    )
    second = kubeconfig(
        tmp_path / "b",
        "prod",
        {"prod": {"cluster": "c", "user": "u"}, "other": {"cluster": "c2", "user": "u2"}},
        clusters={"c": {"server": "https://b.example"}, "c2": {"server": "https://c2.example"}},
        users={
            "u": {"token": "tok-b"},
            "u2": {
                "client-certificate-data": base64.b64encode(b"CERT").decode(),
                "client-key-data": base64.b64encode(b"KEY").decode(),
            },
        },
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    creds = load_credentials()
    assert (creds.server, creds.ca_pem, creds.namespace) == (
        "https://a.example:6443",
        "CA-A",
        "team",
    )
    assert creds.authorization() == "Bearer tok-a"
    other = load_credentials(context="other")
    assert (other.server, other.cert_pem, other.key_pem) == ("https://c2.example", b"CERT", b"KEY")
    assert other.namespace == "default"
    assert default_namespace() == "team"
    assert default_namespace(context="other") == "default"


@pytest.mark.parametrize(
    ("contexts", "users", "message"),
    [
        ({"dev": {"cluster": "c", "user": "u"}}, {"u": {}}, "context 'missing' not found"),
        ({"missing": {"cluster": "nope", "user": "u"}}, {"u": {}}, "has no server"),
        (
            {"missing": {"cluster": "c", "user": "u"}},
            {"u": {"auth-provider": {"name": "gcp"}}},
            "auth-provider plugins were removed",
        ),
    ],
)
def test_a_kubeconfig_that_cannot_work_says_why(
    tmp_path: Path, contexts: dict[str, Any], users: dict[str, Any], message: str
) -> None:
    path = kubeconfig(
        tmp_path / "config",
        "missing",
        contexts,
        clusters={"c": {"server": "https://x"}},
        users=users,
    )
    with pytest.raises(ConfigError, match=message):
        load_credentials(str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        load_credentials(str(tmp_path / "absent"))


def test_an_exec_plugin_runs_once_until_its_credential_expires(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, os, pathlib, sys\n"
        f"p = pathlib.Path({str(calls)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x')\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['spec']['interactive'] is False, info\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "  'status': {'token': 'tok-' + os.environ['WHO'] + '-' + str(len(p.read_text())),\n"
        "             'expirationTimestamp': '2999-01-01T00:00:00Z'}}))\n"
    )
    plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)

    path = kubeconfig(
        tmp_path / "config",
        "dev",
        {"dev": {"cluster": "c", "user": "u"}},
        clusters={"c": {"server": "https://x"}},
        users={
            "u": {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": sys.executable,
                    "args": [str(plugin)],
                    "env": [{"name": "WHO", "value": "me"}],
                }
            }
        },
    )
    creds = load_credentials(str(path))
    assert creds.authorization() == "Bearer tok-me-1"
    assert creds.authorization() == "Bearer tok-me-1", "not run again before it expires"
    creds.expire()  # a 401
    assert creds.authorization() == "Bearer tok-me-2"
    assert calls.read_text() == "xx"


def test_a_failing_exec_plugin_is_a_clear_error(tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path / "config",
        "dev",
        {"dev": {"cluster": "c", "user": "u"}},
        clusters={"c": {"server": "https://x"}},
        users={"u": {"exec": {"command": "false"}}},
    )
    with pytest.raises(ConfigError, match="credential plugin 'false' exited 1"):
        load_credentials(str(path)).authorization()


def test_a_rotated_token_is_read_again_after_a_401(tmp_path: Path) -> None:
    """The ServiceAccount token a kubelet rotates, through a tokenFile: the client retries a
    401 once with the file read again, and counts only the request that answered."""
    token = tmp_path / "token"
    token.write_text("old\n")
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer new":
            return web.json_response({"reason": "Unauthorized", "message": "no"}, status=401)
        return web.json_response({"kind": "Pod", "body": await request.json()}, status=201)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        path = kubeconfig(
            tmp_path / "config",
            "dev",
            {"dev": {"cluster": "c", "user": "u"}},
            clusters={"c": {"server": f"http://127.0.0.1:{port}"}},
            users={"u": {"tokenFile": "token"}},
        )
        kube = await Kube.connect(4, str(path))
        try:
            with pytest.raises(KubeError) as refused:
                await kube.request("GET", "/api/v1/pods")
            assert refused.value.status == 401
            token.write_text("new\n")
            created = await kube.create("/api/v1/namespaces/a/pods", {"x": 1})
            assert created == {"kind": "Pod", "body": {"x": 1}}
            assert seen[-2:] == ["Bearer old", "Bearer new"]
            assert kube.requests[("POST", "pods", 201)] == 1
        finally:
            await kube.close()
            await runner.cleanup()
        kube = await Kube.connect(4, str(path))
        try:  # the server is gone: an OSError, which every caller handles with KubeError
            with pytest.raises(OSError, match=r"127\.0\.0\.1"):
                await kube.request("GET", "/api/v1/pods")
        finally:
            await kube.close()

    asyncio.run(scenario())

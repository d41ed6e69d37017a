"""Credentials (kube/auth.py) read as kubectl reads them, and the client's answer to a 401 (a
rotated token read again, once). The API server here is a loopback aiohttp server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from nodewave.kube.auth import ConfigError, load_credentials, plan_proxy
from nodewave.kube.client import Kube, KubeError, default_namespace
from tests.forward_proxy import ForwardProxy


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


def one_user(tmp_path: Path, user: dict[str, Any], **cluster: Any) -> Path:
    """A kubeconfig of one context, its cluster at https://x unless `cluster` says otherwise."""
    return kubeconfig(tmp_path / "config", "dev", {"dev": {"cluster": "c", "user": "u"}},
                      clusters={"c": {"server": "https://x", **cluster}}, users={"u": user})  # fmt: skip


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
    assert asyncio.run(creds.authorization()) == "Bearer tok-a"
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

    path = one_user(
        tmp_path,
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": sys.executable,
                "args": [str(plugin)],
                "env": [{"name": "WHO", "value": "me"}],
            }
        },
    )
    creds = load_credentials(str(path))
    assert asyncio.run(creds.authorization()) == "Bearer tok-me-1"
    assert asyncio.run(creds.authorization()) == "Bearer tok-me-1", "not run again before expiry"
    creds.expire()  # a 401
    assert asyncio.run(creds.authorization()) == "Bearer tok-me-2"
    assert calls.read_text() == "xx"


def test_a_failing_exec_plugin_is_a_clear_error(tmp_path: Path) -> None:
    path = one_user(tmp_path, {"exec": {"command": "false"}})
    with pytest.raises(ConfigError, match="credential plugin 'false' exited 1"):
        asyncio.run(load_credentials(str(path)).authorization())


async def serve(handler: Any) -> tuple[web.AppRunner, int]:
    """A loopback "API server" answering every path with `handler`, and its port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


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
        runner, port = await serve(handler)
        path = one_user(tmp_path, {"tokenFile": "token"}, server=f"http://127.0.0.1:{port}")
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


def exec_kubeconfig(tmp_path: Path, script: str, **extra: Any) -> Path:
    """A kubeconfig whose user is a Python exec plugin running `script`."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text(script)
    return one_user(
        tmp_path, {"exec": {"command": sys.executable, "args": [str(plugin)], **extra}},
        **{"certificate-authority-data": b64("CA"), "extensions": [
            {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "x"}}]},
    )  # fmt: skip


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SLOW_PLUGIN = (
    "import json, os, pathlib, sys, time\n"
    "runs = pathlib.Path(sys.argv[0]).with_name('runs')\n"
    "runs.write_text(runs.read_text() + 'x' if runs.exists() else 'x')\n"
    "time.sleep(1)\n"
    "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
    "print(json.dumps({'kind': 'ExecCredential', 'status': {\n"
    "  'token': json.dumps(info['spec'].get('cluster'), sort_keys=True),\n"
    "  'expirationTimestamp': '2999-01-01T00:00:00Z'}}))\n"
)


def test_a_slow_exec_plugin_holds_no_other_work_and_runs_once_for_many_requests(
    tmp_path: Path,
) -> None:
    """The plugin takes a second (a cloud's token endpoint): the event loop goes on meanwhile
    (before, subprocess.run held every watch, webhook and health check for that second), and
    50 requests that find the credential missing share one run."""
    creds = load_credentials(str(exec_kubeconfig(tmp_path, SLOW_PLUGIN)))

    async def scenario() -> tuple[int, set[str | None]]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        headers = await asyncio.gather(*(creds.authorization() for _ in range(50)))
        ticker.cancel()
        return ticks, set(headers)

    ticks, headers = asyncio.run(scenario())
    assert ticks >= 50, f"the loop ran {ticks} times in the plugin's second"
    assert (tmp_path / "runs").read_text() == "x"
    assert headers == {"Bearer null"}, "no provideClusterInfo: no cluster in the exec info"


def test_provide_cluster_info_hands_the_plugin_the_cluster_and_its_extension(
    tmp_path: Path,
) -> None:
    creds = load_credentials(str(exec_kubeconfig(tmp_path, SLOW_PLUGIN, provideClusterInfo=True)))
    header = asyncio.run(creds.authorization())
    assert header is not None
    assert json.loads(header.removeprefix("Bearer ")) == {
        "server": "https://x",
        "certificate-authority-data": b64("CA"),
        "config": {"audience": "x"},
    }


def test_a_missing_plugin_says_how_to_install_it(tmp_path: Path) -> None:
    path = one_user(
        tmp_path,
        {
            "exec": {
                "command": "no-such-plugin-here",
                "installHint": "install it with: brew install it",
            }
        },
    )
    with pytest.raises(ConfigError, match=r"(?s)'no-such-plugin-here' did not run.*brew install"):
        asyncio.run(load_credentials(str(path)).authorization())


ENV = {"HTTPS_PROXY": "proxy.corp:3128", "HTTP_PROXY": "http://plain.corp:3128"}


@pytest.mark.parametrize(
    ("server", "proxy_url", "env", "proxy"),
    [
        # The kubeconfig's proxy-url is used for every request, loopback included.
        ("https://127.0.0.1:6443", "http://p:1", ENV, "http://p:1"),
        ("https://10.0.0.1", "https://p:1", {}, "https://p:1"),
        # Else the environment, by the server's scheme; a proxy without scheme is http://.
        ("https://api.example:6443", None, ENV, "http://proxy.corp:3128"),
        ("http://api.example:8080", None, ENV, "http://plain.corp:3128"),
        ("https://api.example", None, {"https_proxy": "http://low:1"}, "http://low:1"),
        ("https://api.example", None, {"HTTPS_PROXY": "http://up:1", "https_proxy": "http://low:1"},
         "http://up:1"),
        ("https://api.example", None, {}, None),
        # Never for localhost or loopback (client-go's rule).
        ("https://localhost:6443", None, ENV, None),
        ("https://127.0.0.5:6443", None, ENV, None),
        ("https://[::1]:6443", None, ENV, None),
        # NO_PROXY: addresses, CIDRs, domains with their subdomains, ports, "*".
        ("https://10.96.0.1", None, {**ENV, "NO_PROXY": "10.96.0.0/12"}, None),
        ("https://10.112.0.1", None, {**ENV, "NO_PROXY": "10.96.0.0/12"}, "http://proxy.corp:3128"),
        ("https://10.0.0.1", None, {**ENV, "no_proxy": "10.0.0.1"}, None),
        ("https://api.cluster.local", None, {**ENV, "NO_PROXY": "cluster.local"}, None),
        ("https://cluster.local", None, {**ENV, "NO_PROXY": "cluster.local"}, None),
        ("https://cluster.local", None, {**ENV, "NO_PROXY": ".cluster.local"},
         "http://proxy.corp:3128"),
        ("https://api.cluster.local", None, {**ENV, "NO_PROXY": "*.cluster.local"}, None),
        ("https://notcluster.local", None, {**ENV, "NO_PROXY": "cluster.local"},
         "http://proxy.corp:3128"),
        ("https://api.example:6443", None, {**ENV, "NO_PROXY": "api.example:6443"}, None),
        ("https://api.example:6443", None, {**ENV, "NO_PROXY": "api.example:443"},
         "http://proxy.corp:3128"),
        ("https://api.example", None, {**ENV, "NO_PROXY": " x , *"}, None),
    ],
)  # fmt: skip
def test_the_proxy_as_client_go_chooses_it(
    server: str, proxy_url: str | None, env: dict[str, str], proxy: str | None
) -> None:
    assert plan_proxy(server, proxy_url, env) == proxy


def test_a_socks_proxy_is_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="only http:// and https:// proxies are supported"):
        plan_proxy("https://api.example", "socks5://user:pw@p:1080", {})


def test_requests_and_watches_go_through_the_kubeconfigs_proxy(tmp_path: Path) -> None:
    proxy = ForwardProxy()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"kind": "PodList", "items": []})

    async def scenario() -> None:
        runner, port = await serve(handler)
        path = one_user(tmp_path, {"token": "t"}, **{"server": f"http://127.0.0.1:{port}",
                                                       "proxy-url": proxy.url})  # fmt: skip
        kube = await Kube.connect(4, str(path))
        try:
            assert await kube.get("/api/v1/pods") == {"kind": "PodList", "items": []}
            async with kube.stream("/api/v1/pods", {"watch": "1"}) as body:
                assert b"PodList" in await body.read()
        finally:
            await kube.close()
            await runner.cleanup()
        assert proxy.seen == {f"GET 127.0.0.1:{port}": 2}

    try:
        asyncio.run(scenario())
    finally:
        proxy.close()


def test_kopfs_watches_log_in_with_the_same_proxy_and_renew_before_the_plugins_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nodewave.handlers.operator import login

    plugin = (
        "import json\n"
        "print(json.dumps({'kind': 'ExecCredential', 'status': {'token': 'tok',\n"
        "  'expirationTimestamp': '2999-01-01T00:00:00Z'}}))\n"
    )
    path = exec_kubeconfig(tmp_path, plugin)
    config = yaml.safe_load(path.read_text())
    config["clusters"][0]["cluster"]["proxy-url"] = "http://proxy.corp:3128"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    info = asyncio.run(login())
    assert (info.scheme, info.token) == ("Bearer", "tok")
    assert info.proxy_url == "http://proxy.corp:3128"
    assert info.expiration is not None
    assert info.expiration.year == 2999


def test_a_plugin_that_hangs_with_a_child_holding_its_output_is_killed_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin starts a child that keeps stdout open and never answers: at the timeout
    the plugin's whole session goes, and the call ends (before, the read waited on)."""
    import nodewave.kube.auth as auth

    monkeypatch.setattr(auth, "EXEC_TIMEOUT_SECONDS", 1.0)
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(300)\n"
    )
    creds = load_credentials(str(exec_kubeconfig(tmp_path, script)))

    async def scenario() -> None:
        async with asyncio.timeout(15):
            with pytest.raises(ConfigError, match="gave no credential within 1s"):
                await creds.authorization()

    asyncio.run(scenario())
    child = int(pidfile.read_text())

    def alive() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{child}/stat").read_text().split()[2] != "Z"  # not a zombie

    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(), "the plugin's child outlived the call"


def test_an_expiry_without_a_time_zone_is_read_as_utc(tmp_path: Path) -> None:
    plugin = (
        "import json\n"
        "print(json.dumps({'kind': 'ExecCredential', 'status': {'token': 't',\n"
        "  'expirationTimestamp': '2999-01-01T00:00:00'}}))\n"
    )
    creds = load_credentials(str(exec_kubeconfig(tmp_path, plugin)))
    assert asyncio.run(creds.authorization()) == "Bearer t"
    assert creds.expiration is not None
    assert creds.expiration.utcoffset() is not None


@pytest.mark.parametrize(
    ("server", "no_proxy", "bypassed"),
    [
        ("https://[2001:db8::1]:6443", "[2001:db8::1]:6443", True),
        ("https://[2001:db8::1]:6443", "[2001:db8::1]:443", False),
        ("https://[2001:db8::1]:6443", "2001:db8::/32", True),
        ("https://[2001:db8::1]:6443", "2001:db8::1", True),
        # Brackets without a port are no address to Go's httpproxy (SplitHostPort fails, the
        # entry is kept as a domain name no host has): client-go uses the proxy.
        ("https://[2001:db8::1]:6443", "[2001:db8::1]", False),
    ],
)
def test_no_proxy_names_ipv6_servers(server: str, no_proxy: str, bypassed: bool) -> None:
    proxy = plan_proxy(server, None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": no_proxy})
    assert (proxy is None) == bypassed

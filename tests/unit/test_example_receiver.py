"""examples/agent-gated.yaml brings its own receiver so it runs as it is on any cluster: busybox
httpd serving the example's ConfigMap as CGI scripts. Served here from the same files on
loopback, by the busybox the real nodes' stand-in image is built from (the public busybox's
httpd behaves alike), every gate's URL must pass (a 2xx) and the SLO watcher's must not ask
for a rollback (anything but a 2xx): with a 2xx there, every rollout would roll back."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from nodewave.localcluster.controlplane import free_port
from nodewave.localcluster.images import BUSYBOX

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent-gated.yaml"
DOCS = {d["kind"]: d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    """The Deployment's httpd, its command as the example gives it, on a loopback port."""
    mount = DOCS["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    command = mount["command"]
    cgi = tmp_path / "www" / "cgi-bin"
    assert mount["volumeMounts"][0]["mountPath"] == "/www/cgi-bin"
    cgi.mkdir(parents=True)
    for name, text in DOCS["ConfigMap"]["data"].items():
        (cgi / name).write_text(text)
        (cgi / name).chmod(DOCS["Deployment"]["spec"]["template"]["spec"]["volumes"][0]
                           ["configMap"]["defaultMode"])  # fmt: skip
    port = free_port()
    args = [str(BUSYBOX), *command]
    args[args.index("-p") + 1] = f"127.0.0.1:{port}"
    args[args.index("-h") + 1] = str(tmp_path / "www")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "httpd did not listen"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(5)


def post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=b'{"kind": "WebhookRequest"}', method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_every_gate_passes_and_the_slo_watcher_never_rolls_back(receiver: str) -> None:
    service = DOCS["Service"]["metadata"]["name"]
    hooks = DOCS["Job"]["spec"]["rollout"]["webhooks"]
    assert {h["type"] for h in hooks} == {
        "ConfirmRollout", "PreWave", "ConfirmPromotion", "Rollback", "PostRollout"
    }  # fmt: skip
    for hook in hooks:
        url = urlsplit(hook["url"])
        assert url.hostname == f"{service}.default.svc.cluster.local"
        assert url.port == DOCS["Service"]["spec"]["ports"][0]["port"]
        status, body = post(receiver + url.path)
        if hook["type"] == "Rollback":
            assert not 200 <= status < 300, (hook["name"], status, body)
        else:
            assert 200 <= status < 300, (hook["name"], status, body)
            assert f'"webhook": "{hook["name"]}"' in body


def test_the_webhook_secret_is_the_one_the_chart_lets_the_operator_read() -> None:
    names = {h["secretRef"]["name"] for h in DOCS["Job"]["spec"]["rollout"]["webhooks"]
             if "secretRef" in h}  # fmt: skip
    assert names == {DOCS["Secret"]["metadata"]["name"]} == {"nodewave-webhooks"}

"""Start and stop a local control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, all on 127.0.0.1, the way envtest does it by hand.

Design notes:
- Every process gets its own free loopback port; nothing listens beyond 127.0.0.1.
- etcd runs with --unsafe-no-fsync: the data is thrown away with the cluster.
- The admin kubeconfig uses a client certificate in system:masters, signed by a CA made
  per cluster, so TLS is verified end to end (no insecure-skip-tls-verify).
- API Priority and Fairness is off and the in-flight limits are raised, as kwok does for
  load tests: the benchmark measures controllers, not the API server's queueing.
- Processes start in their own session, so `nodewave cluster up` can leave them running and
  `nodewave cluster down` can stop them from their recorded pids.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nodewave.localcluster.realnode import (
    MAX_NODES,
    NodeNetwork,
    RealNode,
    allocate_cluster_subnet,
    check_host,
    pid_alive,
    release_cluster_subnet,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = Path(__file__).resolve().parent / "binaries" / "build.sh"
"""Builds the binaries once into the cache (in the package: it works from a pip install)."""
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
    "kubelet",
)
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached."""


def find_binaries() -> Path:
    """The directory with every binary: $NODEWAVE_BIN_DIR, or build them (once, cached)."""
    configured = os.environ.get("NODEWAVE_BIN_DIR")
    if configured and all((Path(configured) / b).exists() for b in BINARIES):
        return Path(configured)
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        raise ControlPlaneError(
            "no binaries: building them needs Go (https://go.dev/dl/, or your distribution's "
            f"golang package); or set NODEWAVE_BIN_DIR to a directory holding {', '.join(BINARIES)}"
        )
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/local/go/bin"}
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "all"], stdout=subprocess.PIPE, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {done.returncode}")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ControlPlane:
    """One local cluster living in `workdir`."""

    workdir: Path
    bin_dir: Path
    apiserver_args: list[str] = field(default_factory=list)
    controller_manager_args: list[str] = field(default_factory=list)
    client_qps: int = 50
    """Client-side rate limit of kube-controller-manager and kube-scheduler (burst: twice).
    Upstream defaults are 20 and 50; the benchmark raises both so the DaemonSet controller it
    compares against is not held back by a limit the operator does not have."""
    node_lease_seconds: int = 40
    """The kwok nodes' lease duration; kwok renews each lease a quarter of it apart, as a
    kubelet does. The 5,000-node benchmark lengthens it (with kube-controller-manager's
    --node-monitor-grace-period to match): 5,000 renewals every 10 s took the API server
    from everything else on this machine and nodes went NotReady."""
    pids: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    real_nodes: list[RealNode] = field(default_factory=list)
    real_subnet: int | None = None
    """This cluster's index among the real-node subnets of the machine (realnode.py)."""
    registry_rate: int = 0
    """Bytes a second each real node pulls from the local registry at most (0: unlimited;
    registry.py)."""
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        from nodewave.localcluster.pki import write_pki

        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        write_pki(self.pki)
        for name in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok"):
            self.ports[name] = free_port()
        self._write_kubeconfig()
        deadline = time.monotonic() + timeout
        try:
            self._start_etcd()
            self._wait(
                lambda: self._http_ok(f"http://127.0.0.1:{self.ports['etcd']}/health"),
                "etcd",
                deadline,
            )
            self._start_apiserver()
            self._wait(lambda: self._api_ok("/readyz"), "kube-apiserver", deadline)
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            self._wait(
                lambda: self._insecure_ok(self.ports["controller-manager"]),
                "kube-controller-manager",
                deadline,
            )
            self._wait(
                lambda: self._insecure_ok(self.ports["scheduler"]), "kube-scheduler", deadline
            )
            self._wait(
                lambda: (
                    self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0
                ),
                "the default ServiceAccount",
                deadline,
            )
        except BaseException:
            self.stop()
            raise
        self._save_state()

    def stop(self) -> None:
        """Stop every process (reverse start order, etcd last): SIGTERM, then SIGKILL after
        10 s; then what real nodes leave behind (containers, shims, mounts, network namespaces).
        Kubelets go first, so none restarts a container killed under it."""
        for node in self.real_nodes:
            self._stop_processes([f"kubelet-{node.name}"])
            node.kill_containers()
        # etcd last: a kube-apiserver that loses etcd while shutting down hangs for the whole
        # grace period (10 s per teardown, measured); with etcd up, everything stops in 0.2 s.
        self._stop_processes(n for n in reversed(list(self.pids)) if n != "etcd")
        self._stop_processes(["etcd"])
        self.pids.clear()
        self._procs.clear()
        for node in self.real_nodes:
            node.cleanup_host()
        self.real_nodes.clear()
        if self.real_subnet is not None:
            release_cluster_subnet(self.real_subnet)
            self.real_subnet = None
        with contextlib.suppress(FileNotFoundError):
            (self.workdir / "state.json").unlink()

    def _stop_processes(self, names: Iterable[str]) -> None:
        running = [(n, self.pids[n], self._procs.get(n)) for n in names if n in self.pids]
        for _, pid, _ in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        end = time.monotonic() + 10
        for _, pid, proc in running:
            while time.monotonic() < end and _alive(pid, proc):
                time.sleep(0.05)
            if _alive(pid, proc):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.wait(timeout=5)

    def restart(self, name: str, down_for: float = 0.0, timeout: float = 60.0) -> None:
        """Stop etcd or kube-apiserver, leave it down `down_for` seconds, start it again and
        wait until the API server is ready (the chaos tests)."""
        starts = {"etcd": self._start_etcd, "kube-apiserver": self._start_apiserver}
        self._stop_processes([name])
        self._procs.pop(name, None)
        self.pids.pop(name, None)
        time.sleep(down_for)
        starts[name]()
        self._wait(lambda: self._api_ok("/readyz"), f"{name} back", time.monotonic() + timeout)
        self._save_state()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @classmethod
    def attach(cls, workdir: Path) -> ControlPlane:
        """The cluster `nodewave cluster up` left running in `workdir`."""
        state = json.loads((workdir / "state.json").read_text())
        return cls(
            workdir=workdir,
            bin_dir=Path(state["binDir"]),
            pids=state["pids"],
            ports=state["ports"],
            real_nodes=[RealNode.from_state(n) for n in state.get("realNodes", [])],
            real_subnet=state.get("realSubnet"),
            registry_rate=state.get("registryRate", 0),
        )

    def alive(self) -> bool:
        return bool(self.pids) and all(
            _alive(pid, self._procs.get(n)) for n, pid in self.pids.items()
        )

    # ---- using it --------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment for a child process that should talk to this cluster."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def add_nodes(self, nodes: Mapping[str, Mapping[str, str]]) -> None:
        """Create fake nodes (name → labels) that kwok manages; they turn Ready on their own."""
        items = [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                        **labels,
                    },
                    "annotations": {FAKE_NODE_ANNOTATION: "fake"},
                },
            }
            for name, labels in nodes.items()
        ]
        for chunk in _chunks(items, 500):
            self.kubectl(
                "create",
                "-f",
                "-",
                input=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": chunk}),
            )

    def add_real_nodes(
        self, nodes: Mapping[str, Mapping[str, str]], timeout: float = 120.0
    ) -> list[RealNode]:
        """Start real kubelet nodes (name → labels): containerd, runc and a kubelet each, in a
        network namespace of their own, with the workload and pause images imported. Returns
        once every node is Ready; raises, with the failing process's log, when one is not."""
        from nodewave.localcluster.images import build_node_images

        check_host()
        if self.real_subnet is None:
            self.real_subnet = allocate_cluster_subnet(self.workdir)
            self._save_state()
        if len(self.real_nodes) + len(nodes) > MAX_NODES:
            raise ControlPlaneError(f"at most {MAX_NODES} real nodes per cluster")
        archives = build_node_images()
        deadline = time.monotonic() + timeout
        added = []
        for name in nodes:
            node = RealNode(
                name=name,
                network=NodeNetwork(self.real_subnet, len(self.real_nodes)),
                directory=self.workdir / "nodes" / name,
            )
            self.real_nodes.append(node)
            self._save_state()
            node.prepare(self.pki)
            self._spawn(
                f"netproxy-{name}", node.proxy_argv(sys.executable, self.ports["apiserver"])
            )
            self._spawn(
                f"registry-proxy-{name}",
                node.registry_proxy_argv(sys.executable, self._registry_port(), self.registry_rate),
            )
            self._spawn(f"containerd-{name}", node.containerd_argv())
            self._wait(node.containerd_ready, f"containerd of {name}", deadline)
            for archive in archives:
                node.import_image(archive)
            self._spawn(f"kubelet-{name}", node.kubelet_argv(self.bin_dir / "kubelet"))
            added.append(node)
        self._save_state()
        try:
            for name, labels in nodes.items():
                self._wait(
                    lambda n=name: self.kubectl("get", "node", n, check=False).returncode == 0,
                    f"node {name} to register",
                    deadline,
                )
                pairs = [f"{k}={v}" for k, v in {"type": "real", **labels}.items()]
                self.kubectl("label", "node", name, "--overwrite", *pairs)
            self.wait_nodes_ready(nodes, timeout=max(1.0, deadline - time.monotonic()))
        except ControlPlaneError as e:
            logs = "\n".join(f"kubelet-{n} log:\n{self._tail(f'kubelet-{n}')}" for n in nodes)
            raise ControlPlaneError(f"{e}\n{logs}") from None
        return added

    def _registry_port(self) -> int:
        """The local registry's port, started with the first real node (registry.py)."""
        from nodewave.localcluster.registry import write_registry_config

        if "registry" not in self.pids:
            port = self.ports["registry"] = free_port()
            config = write_registry_config(self.workdir / "registry", port)
            self._spawn("registry", ["docker-registry", "serve", str(config)])
            self._wait(
                lambda: self._http_ok(f"http://127.0.0.1:{port}/v2/"),
                "the local registry",
                time.monotonic() + 30,
            )
            self._save_state()
        return self.ports["registry"]

    def push_image(self, repository: str, tag: str, payload_bytes: int) -> str:
        """Push a test image with no shell (registry.build_pull_test_image, its layers drawn
        from the reference, so unlike every other) to the local registry; its reference."""
        from nodewave.localcluster.registry import build_pull_test_image, push_image

        image = build_pull_test_image(payload_bytes, f"{repository}:{tag}")
        return push_image(self._registry_port(), repository, tag, image)

    def import_image(self, archive: Path) -> None:
        """Import an image archive (docker or OCI) into every real node's containerd."""
        for node in self.real_nodes:
            node.import_image(archive)

    def wait_nodes_ready(self, names: Iterable[str], timeout: float = 120.0) -> None:
        want = set(names)
        deadline = time.monotonic() + timeout

        def ready() -> bool:
            out = self.kubectl("get", "nodes", "-o", "json").stdout
            ready_names = {
                n["metadata"]["name"]
                for n in json.loads(out)["items"]
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in n.get("status", {}).get("conditions", [])
                )
            }
            return want <= ready_names

        self._wait(ready, f"{len(want)} nodes Ready", deadline)

    def metrics(self) -> str:
        """The API server's /metrics text (request counts by verb and resource)."""
        return self._api_get("/metrics").decode()

    # ---- processes -------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self._procs[name] = proc
        self.pids[name] = proc.pid

    def _start_etcd(self) -> None:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=local",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=local={peer}",
                "--unsafe-no-fsync",
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self) -> None:
        pki = self.pki
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports['apiserver']}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.0.0.0/24",
                # Kubelets are authorised as in a real cluster: the Node authorizer and the
                # NodeRestriction admission plugin (a kubelet may only touch its own node).
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--max-requests-inflight=0",
                "--max-mutating-requests-inflight=0",
                "--profiling=false",
                "--v=1",
                *self.apiserver_args,
            ],
        )

    def _component_kubeconfig_args(self) -> list[str]:
        k = str(self.kubeconfig)
        return [
            f"--kubeconfig={k}",
            f"--authentication-kubeconfig={k}",
            f"--authorization-kubeconfig={k}",
        ]

    def _start_controller_manager(self) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                *self._component_kubeconfig_args(),
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['controller-manager']}",
                "--leader-elect=false",
                f"--kube-api-qps={self.client_qps}",
                f"--kube-api-burst={2 * self.client_qps}",
                f"--service-account-private-key-file={self.pki / 'sa.key'}",
                f"--root-ca-file={self.pki / 'ca.crt'}",
                "--v=1",
                *self.controller_manager_args,
            ],
        )

    def _start_scheduler(self) -> None:
        config = self.workdir / "scheduler.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kubescheduler.config.k8s.io/v1",
                    "kind": "KubeSchedulerConfiguration",
                    "clientConnection": {
                        "kubeconfig": str(self.kubeconfig),
                        "qps": self.client_qps,
                        "burst": 2 * self.client_qps,
                    },
                    "leaderElection": {"leaderElect": False},
                }
            )
        )
        k = str(self.kubeconfig)
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--config={config}",
                f"--authentication-kubeconfig={k}",
                f"--authorization-kubeconfig={k}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['scheduler']}",
                "--v=1",
            ],
        )

    def _start_kwok(self) -> None:
        stages = self.workdir / "kwok-stages.yaml"
        stages.write_text(
            resources.files("nodewave.localcluster").joinpath("stages.yaml").read_text()
        )
        self._spawn(
            "kwok",
            [
                str(self.bin_dir / "kwok"),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={stages}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                f"--node-lease-duration-seconds={self.node_lease_seconds}",
                f"--server-address=127.0.0.1:{self.ports['kwok']}",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.96.0.1",
            ],
        )

    # ---- plumbing --------------------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        self._write_kubeconfig_for(
            self.kubeconfig,
            {
                "client-certificate": str(self.pki / "admin.crt"),
                "client-key": str(self.pki / "admin.key"),
            },
        )

    def write_service_account_kubeconfig(
        self, namespace: str, name: str, path: Path, duration: str = "2h"
    ) -> Path:
        """A kubeconfig that authenticates as a ServiceAccount with a TokenRequest token: what
        a pod running under it would present, so RBAC is checked exactly as in a cluster."""
        token = self.kubectl(
            "create", "token", name, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()
        self._write_kubeconfig_for(path, {"token": token})
        return path

    def _write_kubeconfig_for(self, path: Path, user: dict[str, str]) -> None:
        config: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [
                {
                    "name": "nodewave-local",
                    "context": {"cluster": "local", "user": "user", "namespace": "default"},
                }
            ],
            "current-context": "nodewave-local",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    def _save_state(self) -> None:
        state = {
            "binDir": str(self.bin_dir),
            "pids": self.pids,
            "ports": self.ports,
            "realNodes": [n.to_state() for n in self.real_nodes],
            "realSubnet": self.real_subnet,
            "registryRate": self.registry_rate,
        }
        (self.workdir / "state.json").write_text(json.dumps(state, indent=2))

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _api_get(self, path: str, accept: str = "application/json") -> bytes:
        req = urllib.request.Request(self.server + path, headers={"Accept": accept})
        with urllib.request.urlopen(req, context=self._ssl(), timeout=30) as r:
            return bytes(r.read())

    def pprof(self, kind: str, seconds: int) -> bytes:
        """A pprof profile of kube-apiserver (`kind`: profile for CPU, heap...) over `seconds`
        (needs `--profiling=true` in apiserver_args): what the benchmark asks the API server's
        time went to."""
        req = urllib.request.Request(f"{self.server}/debug/pprof/{kind}?seconds={seconds}")
        with urllib.request.urlopen(req, context=self._ssl(), timeout=seconds + 60) as r:
            return bytes(r.read())

    def get(self, path: str) -> dict[str, Any]:
        """One object (or list) straight from the API: without kubectl's process start and
        discovery, for polling that must not add its own latency (benchmarks)."""
        result: dict[str, Any] = json.loads(self._api_get(path))
        return result

    def count(self, path: str) -> int:
        """How many objects a list returns, fetching only their metadata."""
        body = self._api_get(
            path, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        )
        return len(json.loads(body)["items"] or [])

    def request(
        self, method: str, path: str, body: str, content_type: str = "application/yaml"
    ) -> tuple[int, str]:
        """A raw API request as admin: (status code, body). For cases kubectl would rewrite."""
        req = urllib.request.Request(
            self.server + path,
            data=body.encode(),
            method=method,
            headers={"Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=30) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode()

    def _api_ok(self, path: str) -> bool:
        try:
            return self._api_get(path).strip() == b"ok"
        except OSError:
            return False

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    @staticmethod
    def _insecure_ok(port: int) -> bool:
        # The components serve /healthz with a self-signed certificate of their own.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=5
            ) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def _wait(self, check: Any, what: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise ControlPlaneError(
                        f"{name} exited with {proc.returncode} while waiting for {what}; log:\n{self._tail(name)}"
                    )
            if check():
                return
            time.sleep(0.2)
        raise ControlPlaneError(f"timed out waiting for {what}")

    def _tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


def _alive(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    return proc.poll() is None if proc is not None else pid_alive(pid)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]

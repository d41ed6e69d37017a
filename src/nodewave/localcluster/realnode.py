"""Real kubelet nodes beside the kwok ones: containerd, runc and a kubelet, each node in a
network namespace of its own, so pods really start, probes really run and containers really
exit (what kwok only plays).

Design notes (the settings and why each is needed are in shared/REALNODES.md):
- **A network namespace per node.** kubelet refuses a loopback node IP, and without a node IP
  the API server cannot reach the kubelet for `kubectl logs/exec/port-forward`. Each node gets
  a namespace joined to the machine by a veth pair on a /30 of its own (10.217.C.4K+1 on the
  machine's side, 10.217.C.4K+2 the node's InternalIP), C a per-cluster index, K the node's.
  Nothing is routed beyond the machine: the node's namespace has no default route (its pods
  reach the machine's end of the veth and the API server's Service IP, nothing else; an image
  pull from a registry fails at once with "network is unreachable"), and the machine routes
  the node's pod range (10.219.8C+K.0/24) through the node's address.
- **Pods reach the API server at the `kubernetes` Service IP** (10.0.0.1:443), like in any
  cluster, through `netproxy.py`, which listens there inside the namespace and connects to the
  API server on the machine's loopback. The kubelet uses the same address.
- **Only the network is separate.** kubelet and containerd enter the namespace with
  `nsenter --net` (not `ip netns exec`, which also makes a private mount namespace: the
  kubelet's volume mounts would then be invisible to containerd and pods would see empty
  volumes).
- **Everything lives under the node's directory** (containerd root/state, runc root, kubelet
  root, CNI config and IPAM data, pod logs), so teardown is: kill the containers, stop the
  processes, stop the shims named by our socket, unmount what is under the directory, delete
  the namespace.
- Identity: the kubelet authenticates with a client certificate (CN=system:node:NAME,
  O=system:nodes) and is authorised by the API server's Node authorizer, as in a real cluster;
  it serves a certificate signed by the cluster CA for its InternalIP, which the API server
  verifies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nodewave.localcluster.images import PAUSE_IMAGE
from nodewave.localcluster.registry import NODE_PORT, REGISTRY_HOST, build_hosts_toml

SERVICE_IP = "10.0.0.1"
"""The `kubernetes` Service's cluster IP (first address of --service-cluster-ip-range)."""
NODE_NET = "10.217"
POD_NET = "10.219"
MAX_CLUSTERS = 32
MAX_NODES = 8
RUNTIME_PACKAGES = ("containerd", "runc", "containernetworking-plugins", "util-linux", "iproute2")
CNI_BIN_DIR = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
# Host paths containerd 1.6, libcni and the kubelet use whatever their configuration says.
SHIM_SOCKETS = Path("/run/containerd/s")
CNI_RESULTS = Path("/var/lib/cni/results")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
CLAIMS = Path("/run/nodewave-net")
"""Which cluster (its work directory) holds which real-node subnet."""


class RealNodeError(RuntimeError):
    """A real node could not be set up, started or torn down."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RealNodeError(
            f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done


def check_host() -> None:
    """Fail with a clear message when this machine cannot run a real node."""
    if os.geteuid() != 0:
        raise RealNodeError("real nodes need root (network namespaces, mounts, containerd)")
    missing = [
        str(p)
        for p in (
            Path("/usr/bin/containerd"),
            RUNC,
            CNI_BIN_DIR / "bridge",
            Path("/usr/bin/nsenter"),
        )
        if not p.exists()
    ]
    if missing:
        raise RealNodeError(
            f"missing {', '.join(missing)}: install Debian's {' '.join(RUNTIME_PACKAGES)} "
            "(hack/lib.sh ensure_container_runtime, which `make test` runs, does)"
        )


@dataclass(frozen=True)
class NodeNetwork:
    """Addresses of real node `index` in cluster subnet `cluster`."""

    cluster: int
    index: int

    @property
    def netns(self) -> str:
        return f"nw{self.cluster}n{self.index}"

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def host_ip(self) -> str:
        return f"{NODE_NET}.{self.cluster}.{4 * self.index + 1}"

    @property
    def node_ip(self) -> str:
        return f"{NODE_NET}.{self.cluster}.{4 * self.index + 2}"

    @property
    def pod_cidr(self) -> str:
        return f"{POD_NET}.{8 * self.cluster + self.index}.0/24"

    @property
    def host_link(self) -> str:
        return f"{self.netns}h"

    def create(self) -> None:
        inner = f"{self.netns}i"
        steps: list[tuple[str, ...]] = [
            ("ip", "netns", "add", self.netns),
            ("ip", "link", "add", self.host_link, "type", "veth", "peer", "name", inner),
            ("ip", "link", "set", inner, "netns", self.netns),
            ("ip", "-n", self.netns, "link", "set", inner, "name", "eth0"),
            ("ip", "-n", self.netns, "addr", "add", f"{self.node_ip}/30", "dev", "eth0"),
            ("ip", "-n", self.netns, "link", "set", "eth0", "up"),
            ("ip", "-n", self.netns, "link", "set", "lo", "up"),
            ("ip", "-n", self.netns, "addr", "add", f"{SERVICE_IP}/32", "dev", "lo"),
            ("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_link),
            ("ip", "link", "set", self.host_link, "up"),
            ("ip", "route", "add", self.pod_cidr, "via", self.node_ip),
        ]
        try:
            for step in steps:
                _run(*step)
        except RealNodeError:
            self.delete()
            raise

    def delete(self) -> None:
        # The veth pair (and the route through it) goes with the namespace.
        _run("ip", "netns", "delete", self.netns, check=False)
        _run("ip", "link", "delete", self.host_link, check=False)


def allocate_cluster_subnet(workdir: Path) -> int:
    """A cluster index C for the cluster in `workdir`: one whose 10.217.C.0/24 no interface of
    this machine uses, claimed in /run/nodewave-net/C. A claim whose cluster is gone (its state
    file removed, or none of its processes alive: a killed test session) is reclaimed, and what
    its real nodes left behind is cleaned up first."""
    CLAIMS.mkdir(parents=True, exist_ok=True)
    with open(CLAIMS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        addresses = _run("ip", "-o", "-4", "addr").stdout
        used = set(re.findall(rf"inet {re.escape(NODE_NET)}\.(\d+)\.", addresses))
        for c in range(MAX_CLUSTERS):
            claim = CLAIMS / str(c)
            if claim.exists():
                if not _reclaim_if_stale(c, Path(claim.read_text())):
                    continue
            elif str(c) in used:
                continue
            claim.write_text(str(workdir))
            return c
    raise RealNodeError(f"all {MAX_CLUSTERS} real-node subnets are in use ({CLAIMS})")


def _reclaim_if_stale(cluster: int, workdir: Path) -> bool:
    state_file = workdir / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    if any(pid_alive(pid) for pid in state.get("pids", {}).values()):
        return False
    for node in state.get("realNodes", []):
        real = RealNode.from_state(node)
        real.kill_containers()
        real.cleanup_host()
    for netns in re.findall(rf"^(nw{cluster}n\d+)", _run("ip", "netns", "list").stdout, re.M):
        _run("ip", "netns", "delete", netns, check=False)
    return True


def release_cluster_subnet(cluster: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        (CLAIMS / str(cluster)).unlink()


def pid_alive(pid: int) -> bool:
    """Whether a process we did not start (no Popen to poll) still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RealNode:
    name: str
    network: NodeNetwork
    directory: Path

    @property
    def containerd_socket(self) -> Path:
        return self.directory / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.directory / "runc"

    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cluster": self.network.cluster,
            "index": self.network.index,
            "directory": str(self.directory),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RealNode:
        return cls(
            name=state["name"],
            network=NodeNetwork(state["cluster"], state["index"]),
            directory=Path(state["directory"]),
        )

    # ---- set up ----------------------------------------------------------------------

    def prepare(self, pki: Path) -> None:
        """Network, certificates and configuration files; nothing runs yet."""
        # Imported here: `cryptography` is a development dependency, and the operator's image
        # (which imports this package for its CLI) does not have it.
        from cryptography.x509.oid import ExtendedKeyUsageOID

        from nodewave.localcluster.pki import issue_certificate

        d = self.directory
        for sub in (
            "containerd",
            "cni",
            "cni-ipam",
            "kubelet",
            "pki",
            "pod-logs",
            "volume-plugins",
            "runc",
        ):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.network.create()
        (d / "pki" / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
        issue_certificate(
            d / "pki",
            "kubelet-client",
            f"system:node:{self.name}",
            ExtendedKeyUsageOID.CLIENT_AUTH,
            org="system:nodes",
            ca_dir=pki,
        )
        issue_certificate(
            d / "pki",
            "kubelet-serving",
            f"system:node:{self.name}",
            ExtendedKeyUsageOID.SERVER_AUTH,
            org="system:nodes",
            ips=(self.network.node_ip,),
            ca_dir=pki,
        )
        (d / "containerd.toml").write_text(self.build_containerd_config())
        hosts = d / "certs.d" / REGISTRY_HOST
        hosts.mkdir(parents=True, exist_ok=True)
        (hosts / "hosts.toml").write_text(build_hosts_toml())
        (d / "cni" / "10-nodewave.conflist").write_text(
            json.dumps(self.build_cni_config(), indent=2)
        )
        (d / "kubelet.yaml").write_text(yaml.safe_dump(self.build_kubelet_config()))
        (d / "kubeconfig").write_text(yaml.safe_dump(self.build_kubeconfig()))

    def build_containerd_config(self) -> str:
        d = self.directory
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return f"""\
version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "{self.containerd_socket}"

[ttrpc]
  address = "{self.containerd_socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd/opt"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # This machine refuses a negative oom_score_adj; without this every sandbox fails in runc.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  netns_mounts_under_state_dir = true
  enable_selinux = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "{RUNC}"
  Root = "{self.runc_root}"

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{d}/cni"

[{cri}.registry]
  # hosts.toml per registry (registry.py): the local registry over plain HTTP.
  config_path = "{d}/certs.d"
"""

    def build_cni_config(self) -> dict[str, Any]:
        net = ipaddress.ip_network(self.network.pod_cidr)
        return {
            "cniVersion": "1.0.0",
            "name": "nodewave",
            "plugins": [
                {
                    # The bridge and its gateway live in the node's namespace, so the
                    # ip_forward it turns on is the namespace's, not the machine's.
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.directory / "cni-ipam"),
                        "ranges": [[{"subnet": str(net), "gateway": str(net[1])}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        }

    def build_kubelet_config(self) -> dict[str, Any]:
        d = self.directory
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.network.node_ip,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "tlsCertFile": str(d / "pki" / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(d / "pki" / "kubelet-serving.key"),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(d / "pki" / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            # The cgroup layout of these machines (v1 with a v2 mount beside it) and no systemd.
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            # Several kubelets share one disk and one memory: none may evict for the others.
            "evictionHard": {},
            "imageGCHighThresholdPercent": 100,
            "localStorageCapacityIsolation": False,
            "podLogsDir": str(d / "pod-logs"),
            "volumePluginDir": str(d / "volume-plugins"),
            "makeIPTablesUtilChains": False,
            "serializeImagePulls": False,
            "resolvConf": "/etc/resolv.conf",
            "nodeStatusReportFrequency": "10s",
            # Crash loops back off at most 2 s (KEP-4603) instead of 10 s doubling to 5 min:
            # a restart budget is spent in seconds. The only timing changed from upstream.
            "featureGates": {"KubeletCrashLoopBackOffMax": True},
            "crashLoopBackOff": {"maxContainerRestartPeriod": "2s"},
        }

    def build_kubeconfig(self) -> dict[str, Any]:
        pki = self.directory / "pki"
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": f"https://{SERVICE_IP}:443",
                        "certificate-authority": str(pki / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": self.name,
                    "user": {
                        "client-certificate": str(pki / "kubelet-client.crt"),
                        "client-key": str(pki / "kubelet-client.key"),
                    },
                }
            ],
            "contexts": [{"name": "node", "context": {"cluster": "local", "user": self.name}}],
            "current-context": "node",
        }

    # ---- processes (started by ControlPlane, in this order) --------------------------

    def _in_netns(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net={self.network.netns_path}", "--", *argv]

    def _forward_argv(self, python: str, listen: str, port: int, rate: int = 0) -> list[str]:
        """A `netproxy` from `listen` inside the node's namespace to the machine's loopback
        `port`, `rate` bytes a second towards the node (0: as fast as it goes)."""
        return [
            python, "-m", "nodewave.localcluster.netproxy", "--netns", self.network.netns_path,
            "--listen", listen, "--upstream", f"127.0.0.1:{port}", "--rate", str(rate),
        ]  # fmt: skip

    def proxy_argv(self, python: str, server_port: int) -> list[str]:
        """The node's way to the API server, at the `kubernetes` Service IP."""
        return self._forward_argv(python, f"{SERVICE_IP}:443", server_port)

    def registry_proxy_argv(self, python: str, registry_port: int, rate: int) -> list[str]:
        """The node's way to the local registry (registry.py)."""
        return self._forward_argv(python, f"127.0.0.1:{NODE_PORT}", registry_port, rate)

    def containerd_argv(self) -> list[str]:
        return self._in_netns(
            "containerd", "--config", str(self.directory / "containerd.toml"), "--log-level", "warn"
        )

    def kubelet_argv(self, kubelet: Path) -> list[str]:
        d = self.directory
        return self._in_netns(
            str(kubelet),
            f"--config={d / 'kubelet.yaml'}",
            f"--kubeconfig={d / 'kubeconfig'}",
            f"--root-dir={d / 'kubelet'}",
            f"--cert-dir={d / 'pki'}",
            f"--hostname-override={self.name}",
            f"--node-ip={self.network.node_ip}",
            "--v=1",
        )

    def containerd_ready(self) -> bool:
        return self.containerd_socket.exists() and self.ctr("version", check=False).returncode == 0

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(
            "ctr",
            "--address",
            str(self.containerd_socket),
            "--namespace",
            "k8s.io",
            *args,
            check=check,
        )

    def import_image(self, archive: Path) -> None:
        self.ctr("images", "import", "--no-unpack", str(archive))

    # ---- tear down -------------------------------------------------------------------

    def kill_containers(self) -> None:
        """SIGKILL every container of this node (runc's own list): they are not children of
        any process we started, so stopping containerd alone would leave them running."""
        if not self.runc_root.exists():
            return
        ids = _run(
            str(RUNC), "--root", str(self.runc_root), "list", "-q", check=False
        ).stdout.split()
        for cid in ids:
            _run(
                str(RUNC), "--root", str(self.runc_root), "kill", "--all", cid, "KILL", check=False
            )

    def cleanup_host(self) -> None:
        """After the processes are gone: shims, containers' state, mounts, the namespace, and
        what containerd, libcni and the kubelet left in shared host paths about this node."""
        for pid in _pids_with_argument(str(self.containerd_socket)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _pids_with_argument(str(self.containerd_socket)) and time.monotonic() < deadline:
            time.sleep(0.05)
        ids = self._runc("list", "-q").split() if self.runc_root.exists() else []
        for cid in ids:
            self._runc("delete", "--force", cid)
            # containerd 1.6 names a shim's socket by a hash of (its address, namespace, id).
            address = f"/{self.containerd_socket}/k8s.io/{cid}".replace("//", "/")
            with contextlib.suppress(OSError):
                (SHIM_SOCKETS / hashlib.sha256(address.encode()).hexdigest()).unlink()
        unmount_under(self.directory)
        self.network.delete()
        mine = str(self.directory)
        for link in CONTAINER_LOG_LINKS.glob("*.log"):
            with contextlib.suppress(OSError):
                if os.readlink(link).startswith(mine + "/"):
                    link.unlink()
        for result in CNI_RESULTS.glob("*"):
            with contextlib.suppress(OSError):
                if mine in result.read_text(errors="replace"):
                    result.unlink()
        for path in (SHIM_SOCKETS, CNI_RESULTS, CONTAINER_LOG_LINKS):
            with contextlib.suppress(OSError):
                path.rmdir()

    def _runc(self, *args: str) -> str:
        # containerd's runc shim keeps each namespace's containers in a directory of its own.
        state = self.runc_root / "k8s.io"
        return _run(str(RUNC), "--root", str(state), *args, check=False).stdout


def _pids_with_argument(argument: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in args:
            pids.append(int(entry.name))
    return pids


def unmount_under(directory: Path) -> None:
    """Detach every mount at or below `directory`, deepest first (overlay rootfs, pod
    network namespaces, secret and projected-token tmpfs)."""
    root = str(directory.resolve())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == root or point.startswith(root + "/"):
            mounts.append(point)
    for point in sorted(mounts, key=lambda p: p.count("/"), reverse=True):
        _run("umount", "--lazy", point, check=False)

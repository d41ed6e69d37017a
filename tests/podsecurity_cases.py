"""Pod templates for every Pod Security control, each with the levels that refuse it: the unit
table (tests/unit/test_podsecurity.py) holds nodewave's verdicts to them, the differential
test (tests/integration/test_pod_security.py) the API server's own admission. No ephemeral
containers here: a pod cannot be created with them (the API server refuses that before Pod
Security looks), so only the unit tests show they are checked too."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

RESTRICTED_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}
IMAGE = "registry.example/agent:1"


def restricted_pod(**spec: Any) -> dict[str, Any]:
    """A template every level admits, with `spec` fields added."""
    container = {
        "name": "main",
        "image": IMAGE,
        "securityContext": copy.deepcopy(RESTRICTED_CONTEXT),
    }
    return {"metadata": {}, "spec": {"containers": [container], **spec}}


def with_context(kind: str = "containers", **context: Any) -> dict[str, Any]:
    """A restricted pod whose first container of `kind` has `context` merged in (None: remove)."""
    pod = restricted_pod()
    if kind != "containers":
        pod["spec"][kind] = [{"name": "extra", "image": IMAGE,
                              "securityContext": copy.deepcopy(RESTRICTED_CONTEXT)}]  # fmt: skip
    ctx = pod["spec"][kind][0]["securityContext"]
    for key, value in context.items():
        if value is None:
            ctx.pop(key, None)
        else:
            ctx[key] = value
    return pod


def with_pod_context(**context: Any) -> dict[str, Any]:
    return restricted_pod(securityContext=context)


def with_container(**fields: Any) -> dict[str, Any]:
    pod = restricted_pod()
    pod["spec"]["containers"][0].update(fields)
    return pod


def with_annotations(**annotations: str) -> dict[str, Any]:
    pod = restricted_pod()
    pod["metadata"]["annotations"] = annotations
    return pod


def user_namespace(pod: dict[str, Any]) -> dict[str, Any]:
    """In a user namespace (`hostUsers: false`), where an unmasked /proc is valid."""
    pod["spec"]["hostUsers"] = False
    return pod


def windows(hostProcess: bool = False) -> dict[str, Any]:
    """A Windows pod: no Linux security fields (its validation refuses them)."""
    ctx: dict[str, Any] = {"runAsNonRoot": True}
    spec: dict[str, Any] = {"os": {"name": "windows"}}
    if hostProcess:
        ctx["windowsOptions"] = {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}
        spec["hostNetwork"] = True  # what hostProcess requires
    container = {"name": "main", "image": IMAGE, "securityContext": ctx}
    return {"metadata": {}, "spec": {**spec, "containers": [container]}}


def probe(**handler: Any) -> dict[str, Any]:
    return {"periodSeconds": 10, **handler}


B, R = "baseline", "restricted"
BOTH = (B, R)
NONE: tuple[str, ...] = ()

CASES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    # name: (template, the levels that refuse it)
    "restricted-ready": (restricted_pod(), NONE),
    "plain container": (
        {"metadata": {}, "spec": {"containers": [{"name": "main", "image": IMAGE}]}},
        (R,),
    ),
    "hostNetwork": (restricted_pod(hostNetwork=True), BOTH),
    "hostPID": (restricted_pod(hostPID=True), BOTH),
    "hostIPC": (restricted_pod(hostIPC=True), BOTH),
    "hostNetwork false": (restricted_pod(hostNetwork=False), NONE),
    "privileged": (with_context(privileged=True, allowPrivilegeEscalation=None), BOTH),
    "privileged init": (
        with_context("initContainers", privileged=True, allowPrivilegeEscalation=None),
        BOTH,
    ),
    "privileged false": (with_context(privileged=False), NONE),
    "SYS_ADMIN": (with_context(capabilities={"add": ["SYS_ADMIN"]}), BOTH),
    "DAC_READ_SEARCH init": (
        with_context("initContainers", capabilities={"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]}),
        BOTH,
    ),
    "NET_RAW": (with_context(capabilities={"drop": ["ALL"], "add": ["NET_RAW"]}), BOTH),
    "CHOWN added": (with_context(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}), (R,)),
    "NET_BIND_SERVICE added": (
        with_context(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
        NONE,
    ),
    "no drop ALL": (with_context(capabilities=None), (R,)),
    "drop NET_RAW only": (with_context(capabilities={"drop": ["NET_RAW"]}), (R,)),
    "hostPath": (restricted_pod(volumes=[{"name": "h", "hostPath": {"path": "/var/log"}}]), BOTH),
    "hostPort": (with_container(ports=[{"containerPort": 80, "hostPort": 8080}]), BOTH),
    "hostPort 0": (with_container(ports=[{"containerPort": 80, "hostPort": 0}]), NONE),
    "probe host": (
        with_container(
            readinessProbe=probe(httpGet={"path": "/", "port": 80, "host": "169.254.169.254"})
        ),
        BOTH,
    ),
    "lifecycle host": (
        with_container(
            lifecycle={"preStop": {"httpGet": {"path": "/", "port": 80, "host": "10.0.0.1"}}}
        ),
        BOTH,
    ),
    "tcp probe host": (
        with_container(livenessProbe=probe(tcpSocket={"port": 80, "host": "kubernetes.default"})),
        BOTH,
    ),
    "probe without host": (
        with_container(readinessProbe=probe(httpGet={"path": "/", "port": 80})),
        NONE,
    ),
    "apparmor unconfined": (with_context(appArmorProfile={"type": "Unconfined"}), BOTH),
    "apparmor unconfined pod": (with_pod_context(appArmorProfile={"type": "Unconfined"}), BOTH),
    "apparmor runtime default": (with_context(appArmorProfile={"type": "RuntimeDefault"}), NONE),
    "apparmor annotation unconfined": (
        with_annotations(**{"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}),
        BOTH,
    ),
    "apparmor annotation localhost": (
        with_annotations(**{"container.apparmor.security.beta.kubernetes.io/main": "localhost/p"}),
        NONE,
    ),
    "selinux spc_t": (with_context(seLinuxOptions={"type": "spc_t"}), BOTH),
    "selinux container_t": (with_context(seLinuxOptions={"type": "container_t"}), NONE),
    "selinux user": (with_pod_context(runAsNonRoot=True, seLinuxOptions={"user": "root"}), BOTH),
    "selinux role": (with_context(seLinuxOptions={"role": "sysadm_r"}), BOTH),
    "procMount unmasked": (user_namespace(with_context(procMount="Unmasked")), BOTH),
    "procMount default": (with_context(procMount="Default"), NONE),
    "seccomp unconfined": (with_context(seccompProfile={"type": "Unconfined"}), BOTH),
    "seccomp unconfined pod": (with_pod_context(seccompProfile={"type": "Unconfined"}), BOTH),
    "seccomp unset": (with_context(seccompProfile=None), (R,)),
    "seccomp at pod level": (
        {
            "metadata": {},
            "spec": {
                **with_context(seccompProfile=None)["spec"],
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            },
        },
        NONE,
    ),
    "seccomp localhost": (
        with_context(seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}),
        NONE,
    ),
    "unsafe sysctl": (
        with_pod_context(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
        BOTH,
    ),
    "safe sysctl": (
        with_pod_context(sysctls=[{"name": "net.ipv4.tcp_syncookies", "value": "1"}]),
        NONE,
    ),
    "windows hostProcess": (windows(hostProcess=True), BOTH),
    "windows pod": (windows(), NONE),  # restricted's Linux-only controls do not apply
    "nfs volume": (
        restricted_pod(volumes=[{"name": "n", "nfs": {"server": "s", "path": "/"}}]),
        (R,),
    ),
    "emptyDir volume": (restricted_pod(volumes=[{"name": "e", "emptyDir": {}}]), NONE),
    "allowPrivilegeEscalation true": (with_context(allowPrivilegeEscalation=True), (R,)),
    "allowPrivilegeEscalation unset": (with_context(allowPrivilegeEscalation=None), (R,)),
    "runAsNonRoot false": (with_context(runAsNonRoot=False), (R,)),
    "runAsNonRoot unset": (with_context(runAsNonRoot=None), (R,)),
    "runAsNonRoot at pod level": (
        {
            "metadata": {},
            "spec": {
                **with_context(runAsNonRoot=None)["spec"],
                "securityContext": {"runAsNonRoot": True},
            },
        },
        NONE,
    ),
    "runAsNonRoot false at pod level": (with_pod_context(runAsNonRoot=False), (R,)),
    "runAsUser 0": (with_context(runAsUser=0), (R,)),
    "runAsUser 0 at pod level": (with_pod_context(runAsUser=0), (R,)),
    "runAsUser 1000": (with_context(runAsUser=1000), NONE),
}

CONTAINER_CONTEXT = st.fixed_dictionaries(
    {},
    optional={
        "privileged": st.booleans(),
        "allowPrivilegeEscalation": st.booleans(),
        "runAsNonRoot": st.booleans(),
        "runAsUser": st.sampled_from([0, 1000]),
        "procMount": st.just("Default"),
        "capabilities": st.fixed_dictionaries({}, optional={
            "add": st.lists(st.sampled_from(["CHOWN", "NET_BIND_SERVICE", "NET_RAW", "SYS_ADMIN"]),
                            max_size=2, unique=True),
            "drop": st.lists(st.sampled_from(["ALL", "NET_RAW"]), max_size=2, unique=True)}),
        "seccompProfile": st.sampled_from([{"type": "RuntimeDefault"}, {"type": "Unconfined"}]),
        "appArmorProfile": st.sampled_from([{"type": "RuntimeDefault"}, {"type": "Unconfined"}]),
        "seLinuxOptions": st.sampled_from([{"type": "container_t"}, {"type": "spc_t"}, {"role": "r"}]),
    },
)  # fmt: skip
"""A container's securityContext made of the fields the controls read, for hypothesis."""

"""The Pod Security Standards, applied to a Job's pod template before its pods exist
(docs/design.md §3.9).

A Job runs its pod on every node it selects, with the operator creating the pods: whoever may
create a Job must not get more from the fleet than the namespace's level allows, whether or
not the cluster enforces Pod Security admission there (many leave namespaces at
`privileged`). So every control of the standards' `baseline` and `restricted` profiles, as
Kubernetes v1.34 defines them (the `pod-security.kubernetes.io` admission at `latest`), is
checked here, on the pod, its containers, init containers and ephemeral containers:

baseline: HostProcess, host namespaces, privileged containers, capabilities beyond the default
set, hostPath volumes, host ports, probe and lifecycle hosts, AppArmor, SELinux, /proc mount
type, seccomp, sysctls. restricted, in addition: volume types, privilege escalation, running
as non-root, a non-zero runAsUser, a seccomp profile set, capabilities dropped (ALL).

Differences from the admission on purpose: the deprecated seccomp annotations are not read
(the API server has ignored them since v1.27), and the relaxations for pods in a user
namespace (`hostUsers: false`, behind a feature gate) are not made: nodewave is then stricter.
`tests/integration/test_pod_security.py` holds every control against the API server's own
admission (dry-run creates in namespaces enforcing each level), so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


STRICTNESS = {Level.PRIVILEGED: 0, Level.BASELINE: 1, Level.RESTRICTED: 2}

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})  # fmt: skip
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})  # fmt: skip
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t",
                           "container_engine_t"})  # fmt: skip
PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
"""seccomp and AppArmor profile types allowed (Unconfined is not)."""
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                "image", "persistentVolumeClaim", "projected", "secret"})  # fmt: skip
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


@dataclass(frozen=True, slots=True)
class Violation:
    control: str
    """The control's name in the Pod Security Standards."""
    fields: tuple[str, ...]
    """Each offending field, with its value."""

    def describe(self) -> str:
        return f"{self.control} ({', '.join(self.fields)})"


Pod = Mapping[str, Any]
"""A pod template: `metadata` and `spec`."""


def _spec(pod: Pod) -> Mapping[str, Any]:
    return pod.get("spec") or {}


def _containers(pod: Pod) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in CONTAINER_LISTS:
        for i, container in enumerate(_spec(pod).get(kind) or []):
            yield f"spec.{kind}[{i}]", container


def _contexts(pod: Pod) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The pod's securityContext and each container's, with their paths."""
    yield "spec.securityContext", _spec(pod).get("securityContext") or {}
    for path, container in _containers(pod):
        yield f"{path}.securityContext", container.get("securityContext") or {}


def _windows(pod: Pod) -> bool:
    return ((_spec(pod).get("os") or {}).get("name")) == "windows"


def _host_process(pod: Pod) -> list[str]:
    return [f"{path}.windowsOptions.hostProcess=true" for path, ctx in _contexts(pod)
            if (ctx.get("windowsOptions") or {}).get("hostProcess") is True]  # fmt: skip


def _host_namespaces(pod: Pod) -> list[str]:
    return [f"spec.{f}=true" for f in ("hostNetwork", "hostPID", "hostIPC")
            if _spec(pod).get(f) is True]  # fmt: skip


def _privileged(pod: Pod) -> list[str]:
    return [f"{path}.securityContext.privileged=true" for path, c in _containers(pod)
            if (c.get("securityContext") or {}).get("privileged") is True]  # fmt: skip


def _added(ctx: Mapping[str, Any]) -> list[str]:
    return [str(c) for c in (ctx.get("capabilities") or {}).get("add") or []]


def _capabilities_baseline(pod: Pod) -> list[str]:
    return [f"{path}.capabilities.add={cap}" for path, ctx in _contexts(pod)
            for cap in _added(ctx) if cap not in BASELINE_CAPABILITIES]  # fmt: skip


def _host_path(pod: Pod) -> list[str]:
    return [f"spec.volumes[{i}].hostPath" for i, v in enumerate(_spec(pod).get("volumes") or [])
            if v.get("hostPath") is not None]  # fmt: skip


def _host_ports(pod: Pod) -> list[str]:
    return [f"{path}.ports[{i}].hostPort={port['hostPort']}"
            for path, container in _containers(pod)
            for i, port in enumerate(container.get("ports") or []) if port.get("hostPort")]  # fmt: skip


def _handler_hosts(path: str, handler: Mapping[str, Any] | None) -> list[str]:
    return [f"{path}.{kind}.host={(handler or {})[kind]['host']}" for kind in ("httpGet", "tcpSocket")
            if ((handler or {}).get(kind) or {}).get("host")]  # fmt: skip


def _probe_hosts(pod: Pod) -> list[str]:
    found = []
    for path, c in _containers(pod):
        for probe in PROBES:
            found += _handler_hosts(f"{path}.{probe}", c.get(probe))
        for hook in ("postStart", "preStop"):
            found += _handler_hosts(
                f"{path}.lifecycle.{hook}", (c.get("lifecycle") or {}).get(hook)
            )
    return found


def _apparmor(pod: Pod) -> list[str]:
    found = [f"{path}.appArmorProfile.type={t}" for path, ctx in _contexts(pod)
             if (t := (ctx.get("appArmorProfile") or {}).get("type")) is not None
             and t not in PROFILE_TYPES]  # fmt: skip
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return found + [f"metadata.annotations[{k}]={v}" for k, v in sorted(annotations.items())
                    if k.startswith(APPARMOR_ANNOTATION)
                    and v not in ("", "runtime/default") and not v.startswith("localhost/")]  # fmt: skip


def _selinux(pod: Pod) -> list[str]:
    found = []
    for path, ctx in _contexts(pod):
        options = ctx.get("seLinuxOptions") or {}
        if options.get("type", "") not in SELINUX_TYPES:
            found.append(f"{path}.seLinuxOptions.type={options['type']}")
        found += [
            f"{path}.seLinuxOptions.{f}={options[f]}" for f in ("user", "role") if options.get(f)
        ]
    return found


def _proc_mount(pod: Pod) -> list[str]:
    return [f"{path}.procMount={m}" for path, ctx in _contexts(pod)
            if (m := ctx.get("procMount")) not in (None, "Default")]  # fmt: skip


def _seccomp_baseline(pod: Pod) -> list[str]:
    return [f"{path}.seccompProfile.type={t}" for path, ctx in _contexts(pod)
            if (t := (ctx.get("seccompProfile") or {}).get("type")) is not None
            and t not in PROFILE_TYPES]  # fmt: skip


def _sysctls(pod: Pod) -> list[str]:
    ctx = _spec(pod).get("securityContext") or {}
    return [f"spec.securityContext.sysctls[{i}].name={s.get('name')}"
            for i, s in enumerate(ctx.get("sysctls") or []) if s.get("name") not in SAFE_SYSCTLS]  # fmt: skip


def _volume_types(pod: Pod) -> list[str]:
    found = []
    for i, volume in enumerate(_spec(pod).get("volumes") or []):
        sources = sorted(k for k in volume if k != "name")
        if not any(s in RESTRICTED_VOLUMES for s in sources):
            found.append(f"spec.volumes[{i}]={'/'.join(sources) or 'no source'}")
    return found


def _privilege_escalation(pod: Pod) -> list[str]:
    if _windows(pod):
        return []
    return [f"{path}.securityContext.allowPrivilegeEscalation must be false"
            for path, c in _containers(pod)
            if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False]  # fmt: skip


def _pod_level_or_every_container(
    pod: Pod, read: Callable[[Mapping[str, Any]], Any], good: Callable[[Any], bool], what: str
) -> list[str]:
    """Set to a good value at the pod level (a container may not override it badly) or on
    every container: runAsNonRoot and the restricted seccomp profile."""
    pod_value = read(_spec(pod).get("securityContext") or {})
    found = (
        [] if pod_value is None or good(pod_value) else [f"spec.securityContext.{what}={pod_value}"]
    )
    for path, c in _containers(pod):
        value = read(c.get("securityContext") or {})
        if value is not None and not good(value):
            found.append(f"{path}.securityContext.{what}={value}")
        elif value is None and (pod_value is None or not good(pod_value)):
            found.append(f"{path}.securityContext.{what} unset (nor at the pod)")
    return found


def _run_as_non_root(pod: Pod) -> list[str]:
    return _pod_level_or_every_container(
        pod, lambda ctx: ctx.get("runAsNonRoot"), lambda v: v is True, "runAsNonRoot"
    )


def _run_as_user(pod: Pod) -> list[str]:
    return [f"{path}.runAsUser=0" for path, ctx in _contexts(pod) if ctx.get("runAsUser") == 0]


def _seccomp_restricted(pod: Pod) -> list[str]:
    if _windows(pod):
        return []
    return _pod_level_or_every_container(
        pod,
        lambda ctx: (ctx.get("seccompProfile") or {}).get("type"),
        lambda v: v in PROFILE_TYPES,
        "seccompProfile.type",
    )


def _capabilities_restricted(pod: Pod) -> list[str]:
    if _windows(pod):
        return []
    found = []
    for path, c in _containers(pod):
        caps = (c.get("securityContext") or {}).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f'{path}.securityContext.capabilities.drop must include "ALL"')
        found += [f"{path}.securityContext.capabilities.add={cap}"
                  for cap in caps.get("add") or [] if cap != "NET_BIND_SERVICE"]  # fmt: skip
    return found


CHECKS: tuple[tuple[Level, str, Callable[[Pod], list[str]]], ...] = (
    (Level.BASELINE, "HostProcess", _host_process),
    (Level.BASELINE, "Host Namespaces", _host_namespaces),
    (Level.BASELINE, "Privileged Containers", _privileged),
    (Level.BASELINE, "Capabilities", _capabilities_baseline),
    (Level.BASELINE, "HostPath Volumes", _host_path),
    (Level.BASELINE, "Host Ports", _host_ports),
    (Level.BASELINE, "Host Probes / Lifecycle Hooks", _probe_hosts),
    (Level.BASELINE, "AppArmor", _apparmor),
    (Level.BASELINE, "SELinux", _selinux),
    (Level.BASELINE, "/proc Mount Type", _proc_mount),
    (Level.BASELINE, "Seccomp", _seccomp_baseline),
    (Level.BASELINE, "Sysctls", _sysctls),
    (Level.RESTRICTED, "Volume Types", _volume_types),
    (Level.RESTRICTED, "Privilege Escalation", _privilege_escalation),
    (Level.RESTRICTED, "Running as Non-root", _run_as_non_root),
    (Level.RESTRICTED, "Running as Non-root user", _run_as_user),
    (Level.RESTRICTED, "Seccomp (restricted)", _seccomp_restricted),
    (Level.RESTRICTED, "Capabilities (restricted)", _capabilities_restricted),
)
"""Every control, the level from which it applies, and the function finding what breaks it."""


def evaluate_pod_security(template: Pod, level: Level) -> list[Violation]:
    """The controls of `level` that the pod template breaks, each with its fields."""
    found = []
    for applies_from, control, check in CHECKS:
        if STRICTNESS[level] >= STRICTNESS[applies_from] and (fields := check(template)):
            found.append(Violation(control, tuple(fields)))
    return found

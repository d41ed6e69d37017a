"""What a Job's pod template may ask for: no host access unless its namespace opts in, and
never the operator's own ServiceAccount.

A Job runs its pod on every node it selects, so a template with a privileged container, the
host's network, process or IPC namespace, or a hostPath volume is root on the whole fleet,
granted to whoever may create a Job. Pod Security Admission would refuse such pods one by one
at creation, each a failed execution halfway through a rollout, and many clusters do not
enforce it at all. So the operator refuses the version before it creates anything: the Job
gets a condition and an Event, and what already runs keeps running. A namespace whose owner
means it (node agents, CNI helpers) opts in with the label `nodewave.io/allow-privileged=true`,
the same way Pod Security's levels are chosen per namespace.

The operator's own ServiceAccount may create pods and executions wherever it works; a pod
running as it would hand those rights to anyone able to create a Job in the operator's
namespace. That is refused whatever the labels say. A template without `serviceAccountName`
runs as the namespace's `default` account (see `podspec.build_pod`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nodewave.core import reasons as R

ALLOW_PRIVILEGED_LABEL = "nodewave.io/allow-privileged"

_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


@dataclass(frozen=True, slots=True)
class ServiceAccountRef:
    namespace: str
    name: str

    @classmethod
    def parse(cls, value: str) -> ServiceAccountRef:
        """`namespace/name` or `system:serviceaccount:namespace:name`."""
        prefix = "system:serviceaccount:"
        parts = (
            value.removeprefix(prefix).split(":") if value.startswith(prefix) else value.split("/")
        )
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"not a ServiceAccount (namespace/name): {value!r}")
        return cls(parts[0], parts[1])


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    reason: str
    message: str


def find_host_access(template: Mapping[str, Any]) -> list[str]:
    """The field paths in a pod template that reach into the host."""
    spec = template.get("spec") or {}
    found = [f"spec.{field}" for field in _HOST_NAMESPACES if spec.get(field) is True]
    for kind in _CONTAINER_LISTS:
        for i, container in enumerate(spec.get(kind) or []):
            if ((container.get("securityContext") or {}).get("privileged")) is True:
                found.append(f"spec.{kind}[{i}].securityContext.privileged")
    for i, volume in enumerate(spec.get("volumes") or []):
        if volume.get("hostPath") is not None:
            found.append(f"spec.volumes[{i}].hostPath")
    return found


def evaluate_template_policy(
    template: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str],
    operator_account: ServiceAccountRef | None,
) -> PolicyVerdict | None:
    """None when the template may run in `namespace`, else why not."""
    spec = template.get("spec") or {}
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    if operator_account == ServiceAccountRef(namespace, account):
        return PolicyVerdict(
            R.SERVICE_ACCOUNT_NOT_ALLOWED,
            f"the template runs as {namespace}/{account}, the operator's own ServiceAccount; "
            "give the Job a ServiceAccount of its own",
        )
    host = find_host_access(template)
    if host and namespace_labels.get(ALLOW_PRIVILEGED_LABEL) != "true":
        return PolicyVerdict(
            R.HOST_ACCESS_NOT_ALLOWED,
            f"the template asks for host access ({', '.join(host)}), which namespace "
            f"{namespace} does not allow; label it {ALLOW_PRIVILEGED_LABEL}=true to allow it",
        )
    return None

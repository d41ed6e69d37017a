"""What a Job's pod template may ask for: what its namespace's Pod Security level allows
(`core/job/podsecurity.py`), and never the operator's own ServiceAccount.

A Job runs its pod on every node it selects, so a template with a privileged container, the
host's namespaces, a hostPath volume, added capabilities or an unconfined seccomp profile is
root on the whole fleet, granted to whoever may create a Job. Pod Security admission would
refuse such pods one by one at creation, each a failed execution halfway through a rollout, and
many clusters do not enforce it at all. So the operator refuses the version before it creates
anything: the Job gets a condition and an Event naming each control and field, and what
already runs keeps running.

A namespace's level is its label `nodewave.io/pod-security` (privileged, baseline or
restricted; a value that is none of them counts as restricted, so a typo never opens the
fleet), else `privileged` with the older opt-in `nodewave.io/allow-privileged=true`, else the
operator's default (`--pod-security-default`, the chart's `podSecurity.defaultLevel`,
baseline); never looser than the namespace's own `pod-security.kubernetes.io/enforce`, which
the API server would apply to the pods anyway.

The operator's own ServiceAccount may create pods and executions wherever it works; a pod
running as it would hand those rights to anyone able to create a Job in the operator's
namespace. That is refused whatever the labels say. A template without `serviceAccountName`
runs as the namespace's `default` account (see `podspec.build_pod`).

Cordoning and draining nodes (`spec.nodeMaintenance`) takes capacity from every tenant on them,
so a Job may ask for it only in a namespace a cluster admin labelled
`nodewave.io/node-maintenance=allowed`. The chart's admission policy checks the same label at
`kubectl apply`, and also whether the Job's author holds the grant for it; the operator cannot
know who wrote a Job, so it checks the label (for clusters where the policy is off) and leaves
the grant to admission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nodewave.core.job.podsecurity import STRICTNESS, Level, evaluate_pod_security
from nodewave.core.vocabulary import reasons as R
from nodewave.models.job import NodeMaintenance

ALLOW_PRIVILEGED_LABEL = "nodewave.io/allow-privileged"
"""The older opt-in: `true` means the level privileged."""
POD_SECURITY_LABEL = "nodewave.io/pod-security"
PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = frozenset(level.value for level in Level)
NODE_MAINTENANCE_LABEL = "nodewave.io/node-maintenance"
NODE_MAINTENANCE_ALLOWED = "allowed"


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


def evaluate_namespace_level(labels: Mapping[str, str], default: Level) -> tuple[Level, str]:
    """The Pod Security level the namespace's Jobs run under, and what set it (for messages)."""
    own = labels.get(POD_SECURITY_LABEL)
    if own is not None:
        level = Level(own) if own in LEVELS else Level.RESTRICTED
        source = f"{POD_SECURITY_LABEL}={own}" + ("" if own in LEVELS else " (no such level)")
    elif labels.get(ALLOW_PRIVILEGED_LABEL) == "true":
        level, source = Level.PRIVILEGED, f"{ALLOW_PRIVILEGED_LABEL}=true"
    else:
        level, source = default, "the operator's default"
    enforced = labels.get(PSA_ENFORCE_LABEL)
    if enforced in LEVELS and STRICTNESS[Level(enforced)] > STRICTNESS[level]:
        level, source = Level(enforced), f"{PSA_ENFORCE_LABEL}={enforced}"
    return level, source


def evaluate_template_policy(
    template: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str],
    operator_account: ServiceAccountRef | None,
    default_level: Level = Level.BASELINE,
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
    level, source = evaluate_namespace_level(namespace_labels, default_level)
    broken = evaluate_pod_security(template, level)
    if not broken:
        return None
    looser = "baseline" if level is Level.RESTRICTED else "privileged"
    return PolicyVerdict(
        R.POD_SECURITY_VIOLATION,
        f"the template breaks Pod Security {level.value} (namespace {namespace}: {source}): "
        + "; ".join(v.describe() for v in broken)
        + f"; label the namespace {POD_SECURITY_LABEL}={looser} (or looser) to allow it",
    )


def evaluate_maintenance_policy(
    maintenance: NodeMaintenance, namespace: str, namespace_labels: Mapping[str, str]
) -> PolicyVerdict | None:
    """None when the Job may cordon and drain the nodes it selects (or does not ask to)."""
    if not (maintenance.cordon or maintenance.drain.enabled):
        return None
    if namespace_labels.get(NODE_MAINTENANCE_LABEL) == NODE_MAINTENANCE_ALLOWED:
        return None
    return PolicyVerdict(
        R.NODE_MAINTENANCE_NOT_ALLOWED,
        f"spec.nodeMaintenance cordons and drains nodes, which namespace {namespace} may not "
        f"ask for: a cluster admin labels it {NODE_MAINTENANCE_LABEL}={NODE_MAINTENANCE_ALLOWED}",
    )

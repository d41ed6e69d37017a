"""The operator's settings: one typed object, every default in one place.

`nodewave run` builds it from its flags (whose defaults are these), and the handlers read it
from kopf's memo at startup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nodewave.core.job.podsecurity import Level
from nodewave.core.job.policy import ServiceAccountRef
from nodewave.core.operator.egress import DEFAULT_ALLOWED, DEFAULT_DENIED
from nodewave.core.operator.leader import LeaderTiming


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    """Watch only these namespaces; empty: every namespace."""
    node_lost_grace_seconds: float = 60.0
    """How long a node may be NotReady before its executions are Lost."""
    validation_record: bool = False
    """Read validation from the Job's record of settled waves too (PlannerSettings)."""
    pod_records: bool = False
    """A node's execution is its pod on the normal path, with no Execution (kube/records.py);
    implies `validation_record`."""
    max_inflight: int = 64
    """API requests in flight at most; slots go to the highest-priority Job first."""
    liveness: str = "http://0.0.0.0:8080/healthz"
    """kopf's liveness endpoint ("" disables it)."""
    metrics_port: int = 8000
    """Prometheus /metrics port (0 disables it)."""
    metrics_address: str = "0.0.0.0"
    service_account: ServiceAccountRef | None = None
    """The operator's own ServiceAccount, which no execution pod may run as."""
    max_priority: int = 1000
    """The highest spec.priority honoured; higher ones count as this (kube/slots.py)."""
    pod_security_default: Level = Level.BASELINE
    """The Pod Security level of namespaces that name none (core/job/policy.py)."""
    verbose: bool = False
    leader_elect: bool = True
    """Act only while holding the Lease `leader_namespace`/nodewave-operator (several replicas:
    one acts, the others stand by)."""
    leader_namespace: str = "default"
    """Where the Lease is: the operator's own namespace in a cluster (POD_NAMESPACE)."""
    leader_timing: LeaderTiming = field(default_factory=LeaderTiming)
    notifications_configmap: str = "nodewave-notifications"
    """The ConfigMap (and Secret) of notification services, templates and subscriptions, in
    the operator's namespace (`leader_namespace`); "" turns notifications off."""
    notifications_refresh_seconds: float = 15.0
    """How often the operator reads that configuration again."""
    egress_allowed: tuple[str, ...] = DEFAULT_ALLOWED
    """Networks webhook calls and Prometheus queries may go to (core/operator/egress.py)."""
    egress_denied: tuple[str, ...] = DEFAULT_DENIED
    """Networks they may not; the most specific network naming an address decides."""
    pod_ip: str | None = None
    """This replica's own address, denied too (NODEWAVE_POD_IP; the chart sets it)."""
    identity: str = "nodewave"
    """This replica's name in the Lease (the pod's name in a cluster)."""

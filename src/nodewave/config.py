"""The operator's settings: one typed object, every default in one place.

`nodewave run` builds it from its flags (whose defaults are these), and the handlers read it
from kopf's memo at startup.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodewave.core.policy import ServiceAccountRef


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    """Watch only these namespaces; empty: every namespace."""
    node_lost_grace_seconds: float = 60.0
    """How long a node may be NotReady before its executions are Lost."""
    max_inflight: int = 64
    """API requests in flight at most; slots go to the highest-priority Job first."""
    liveness: str = "http://0.0.0.0:8080/healthz"
    """kopf's liveness endpoint ("" disables it)."""
    metrics_port: int = 8000
    """Prometheus /metrics port (0 disables it)."""
    metrics_address: str = "0.0.0.0"
    service_account: ServiceAccountRef | None = None
    """The operator's own ServiceAccount, which no execution pod may run as."""
    verbose: bool = False

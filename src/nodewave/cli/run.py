"""`nodewave run`: start the kopf operator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from dataclasses import replace

import kopf

from nodewave.config import OperatorConfig
from nodewave.core.operator.leader import LeaderTiming

DEFAULTS = OperatorConfig()


def build_operator_config(args: argparse.Namespace) -> OperatorConfig:
    return OperatorConfig(
        namespaces=tuple(args.namespace),
        node_lost_grace_seconds=args.node_lost_grace,
        validation_record=args.validation_record or args.pod_records,
        pod_records=args.pod_records,
        max_inflight=args.max_inflight,
        liveness=args.liveness,
        metrics_port=args.metrics_port,
        metrics_address=args.metrics_address,
        service_account=args.service_account,
        pod_security_default=args.pod_security_default,
        max_priority=args.max_priority,
        egress_allowed=(*DEFAULTS.egress_allowed, *(args.egress_allow or ())),
        egress_denied=(*DEFAULTS.egress_denied, *(args.egress_deny or ())),
        pod_ip=os.environ.get("NODEWAVE_POD_IP") or None,
        verbose=args.verbose,
        leader_elect=args.leader_elect,
        leader_namespace=args.leader_elect_namespace,
        notifications_configmap=args.notifications_configmap,
        notifications_refresh_seconds=args.notifications_refresh,
        leader_timing=LeaderTiming(
            args.leader_elect_lease_duration,
            args.leader_elect_renew_deadline,
            args.leader_elect_retry_period,
        ),
    )


def run_operator(args: argparse.Namespace) -> int:
    import nodewave.handlers.operator  # noqa: F401 - registers the handlers

    config = build_operator_config(args)
    kopf.configure(verbose=config.verbose, log_format=kopf.LogFormat.PLAIN)
    # A line per probe request (kubelet's readiness and liveness probes) drowns the log.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if not config.verbose:
        # kopf logs every handled watch event at INFO: thousands a minute at 1,000 nodes.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # An explicit identity: kopf would otherwise derive one from the user's name, and an image
    # run as a uid without a passwd entry (ours runs as 65532; OpenShift picks random uids)
    # crashed at start with "getpwuid(): uid not found" (found on a real node).
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    config = replace(config, identity=identity)
    asyncio.run(
        kopf.operator(
            identity=identity,  # type: ignore[arg-type]  # kopf's Identity is a NewType of str
            standalone=True,
            clusterwide=not config.namespaces,
            namespaces=config.namespaces,
            liveness_endpoint=config.liveness or None,
            memo=kopf.Memo(config=config),
        )
    )
    return 0

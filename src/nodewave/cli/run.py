"""`nodewave run`: start the kopf operator."""

from __future__ import annotations

import argparse
import asyncio
import logging

import kopf


def run_operator(args: argparse.Namespace) -> int:
    import nodewave.handlers.operator  # noqa: F401 - registers the handlers

    memo = kopf.Memo(
        node_lost_grace=args.node_lost_grace,
        max_inflight=args.max_inflight,
        metrics_port=args.metrics_port,
        metrics_address=args.metrics_address,
        service_account=args.service_account,
    )
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes_asyncio").setLevel(logging.WARNING)
    if not args.verbose:
        # kopf logs every handled watch event at INFO: thousands a minute at 1,000 nodes.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(
        kopf.operator(
            standalone=True,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=args.liveness or None,
            memo=memo,
        )
    )
    return 0

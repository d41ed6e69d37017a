"""`kubectl nodewave` (the console script `kubectl-nodewave`): watch and steer rollouts.

    kubectl nodewave status JOB [--watch [--timeout 10m] [--until-paused]]
                                              rollout phase, versions and per-wave progress;
                                              with --watch, wait for the rollout's end: exit 0
                                              when it succeeded, 1 when it failed or rolled
                                              back, 2 at the timeout (a CI gate)
    kubectl nodewave get JOB [--watch]        the Job as a tree: versions, waves, executions
    kubectl nodewave promote JOB [--full]     let a canary go on (annotation nodewave.io/promote);
                                              --full: every remaining node in one wave
    kubectl nodewave pause|resume JOB         hold or release new waves (spec.rollout.paused)
    kubectl nodewave abort JOB                stop the rollout: every node returns to the stable
                                              version in waves, the spec untouched (GitOps)
    kubectl nodewave restart JOB [--in 1h]    recreate every execution of the current version in
                                              the rollout's waves, health windows and budget
    kubectl nodewave uncordon JOB NODE        give back a node the Job's failed execution left
                                              cordoned and quarantined (spec.nodeMaintenance)
    kubectl nodewave rollback JOB [--to-version N]   put an earlier version's spec back (promoted)
    kubectl nodewave history JOB              the versions kept as ControllerRevisions
    kubectl nodewave executions [--job J] [--node N] [--state S] [--wave W] [--version V] [-A]
    kubectl nodewave stats [--job J] [-A]     executions per observed state
    kubectl nodewave cancel EXECUTION         desiredState Stopped
    kubectl nodewave retry EXECUTION          start a finished execution again
    kubectl nodewave retry JOB --node N       the same for the Job's current version on node N
    kubectl nodewave retry JOB                lift an abort: the same spec rolls out again
    kubectl nodewave plan -f JOB.yaml         what applying it would do: the version and its
                                              diff, nodes that would stop, the waves, the
                                              budget; exit 0 no change, 1 changes, 255 error
    kubectl nodewave dashboard [--port 3100] [-A]   a live web view on 127.0.0.1: the Jobs and
                                              each Job's node map, with promote, pause,
                                              resume and abort buttons

    kubectl nodewave completion bash|zsh|fish a shell completion script

Read commands take -o json|yaml. Filters are sent to the API server as label and field
selectors, not applied here. As with kubectl: --kubeconfig, --context, -n defaulting to the
context's namespace, --token, --as, --as-group, --as-uid, --request-timeout, -v 6.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nodewave import __version__
from nodewave.cli.completion import SCRIPTS, answer, collect_repeated
from nodewave.cli.dashboard import cmd_dashboard
from nodewave.cli.errors import PluginError
from nodewave.cli.operations import (
    TIMED_OUT,
    abort_job,
    evaluate_job,
    get_job,
    get_object,
    patch_job,
    pause_job,
    promote_job,
    read_job_status,
    set_cancel,
)
from nodewave.cli.plan import EXIT_ERROR, cmd_plan
from nodewave.cli.records import is_pod_record, list_executions
from nodewave.cli.render import (
    FORMATS,
    build_history,
    build_list,
    build_operator,
    build_stats,
    build_status_document,
    build_tree,
    emit,
    progress_line,
    render_executions,
    render_history,
    render_operator,
    render_stats,
    render_status,
    render_tree,
)
from nodewave.cli.watching import JobWatch
from nodewave.core.execution.maintenance import ANNOTATION_RELEASE, LABEL_QUARANTINED
from nodewave.core.execution.record import ANNOTATION_CANCEL, select_pod_records
from nodewave.core.rollout.engine import (
    ANNOTATION_ABORT,
    ANNOTATION_PROMOTE,
    EVERY_PAUSE,
    build_promote_value,
)
from nodewave.core.rollout.restart import ANNOTATION_RESTART
from nodewave.core.views.gate import Gate, Outcome
from nodewave.core.vocabulary.naming import LABEL_JOB, LABEL_NODE, LABEL_VERSION, label_value
from nodewave.kube.auth import ConfigError, load_credentials
from nodewave.kube.client import Kube, KubeError, default_namespace, path_of
from nodewave.kube.leader import ANNOTATION_OPERATOR_VERSION, LEASE_NAME
from nodewave.kube.parse import parse_pod
from nodewave.models.execution import ObservedState
from nodewave.models.job import RolloutPhase

STATES = [s.value for s in ObservedState]
EXIT_FAILED, EXIT_TIMEOUT = 1, 2
CANCEL_WAIT_SECONDS = 30.0
"""How long `cancel` waits for the operator to carry out a cancel asked on the Job."""


async def _connect(args: argparse.Namespace) -> Kube:
    """The API client as kubectl's flags make it: --kubeconfig, --context, --token (instead of
    the kubeconfig user's credentials), --as/--as-group/--as-uid (impersonation, which the
    caller's RBAC must allow), --request-timeout, and -v 6 or more (each request on stderr)."""
    try:
        credentials = load_credentials(args.kubeconfig, args.context)
    except Exception as e:  # kubeconfig missing or unreadable, no such context
        raise PluginError(f"no cluster: {e}") from e
    if args.token:
        credentials.use_token(args.token)
    limit = 30.0 if args.request_timeout is None else (args.request_timeout or None)  # 0: none
    try:
        credentials.impersonate(args.as_user, args.as_group or [], args.as_uid)
        return Kube(credentials, 8, timeout=limit, log_requests=(args.v or 0) >= 6)
    except ConfigError as e:  # --as-group without --as, a proxy that cannot be used
        raise PluginError(str(e)) from e


def parse_duration(text: str) -> float:
    """kubectl's durations: 90, 90s, 5m, 1h30m (0: no limit)."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 10m, 1h)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


async def _job_executions(kube: Kube, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every execution of the Job the command names."""
    return await list_executions(kube, args.namespace, {LABEL_JOB: label_value(args.job)}, {})


async def cmd_status(kube: Kube, args: argparse.Namespace) -> int:
    """Without --watch, the status once. With it, until the rollout ends (core/views/gate.py),
    from watches: a terminal is redrawn in place; anything else (a CI log) gets a line per
    change; with -o, a document per change."""
    job = await get_job(kube, args.namespace, args.job)  # not found, forbidden: said at once
    if not args.watch:
        execs = await _job_executions(kube, args)
        _show_status(args, job, execs, evaluate_job(job), redraw=False)
        return 0
    tty = sys.stdout.isatty() and not args.output
    deadline = time.monotonic() + args.timeout if args.timeout else None
    watch = JobWatch(kube, args.namespace, args.job, executions=tty or bool(args.output))
    async with watch:
        return await _follow(args, watch, tty, deadline)


async def _follow(
    args: argparse.Namespace, watch: JobWatch, tty: bool, deadline: float | None
) -> int:
    shown = ""
    while True:
        job = watch.job()
        if job is None:
            raise PluginError(f'Job "{args.job}" in namespace "{args.namespace}" was deleted')
        gate = evaluate_job(job)
        if tty or args.output:
            _show_status(args, job, watch.executions(), gate, redraw=True)
        elif (line := progress_line(job, gate)) != shown:
            print(time.strftime("%H:%M:%S ") + line, flush=True)
            shown = line
        ended = _ended(args, gate)
        if ended is not None:
            return ended
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            print(f"error: timed out after {args.timeout:g}s: {gate.message}", file=sys.stderr)
            return EXIT_TIMEOUT
        await watch.next_change(left)


def _show_status(
    args: argparse.Namespace,
    job: dict[str, Any],
    execs: list[dict[str, Any]],
    gate: Gate,
    redraw: bool,
) -> None:
    """The status once: a document (-o; with --watch, one per change), else the text, on a
    terminal that --watch redraws in place."""
    if args.output == "yaml" and redraw:
        print("---")
    text = render_status(job, execs) + f"\nOutcome:    {gate.outcome.value}"
    if redraw and not args.output:
        text = "\x1b[2J\x1b[H" + time.strftime("%H:%M:%S ") + text
    emit(args.output, build_status_document(job, execs, gate), lambda: text)


def _ended(args: argparse.Namespace, gate: Gate) -> int | None:
    """The exit code when the watch ends here, else None."""
    job = f"job.nodewave.io/{args.job}"
    if gate.outcome is Outcome.SUCCEEDED:
        print(f"{job}: {gate.message}")
        return 0
    if gate.outcome is Outcome.FAILED:
        print(f"error: {job} failed: {gate.message}", file=sys.stderr)
        return EXIT_FAILED
    if gate.outcome is Outcome.PAUSED and args.until_paused:
        print(f"{job}: paused, waiting for a person: {gate.message}")
        return 0
    return None


async def _patch_job(kube: Kube, args: argparse.Namespace, patch: dict[str, Any]) -> dict[str, Any]:
    return await patch_job(kube, args.namespace, args.job, patch)


async def cmd_promote(kube: Kube, args: argparse.Namespace) -> int:
    print(await promote_job(kube, args.namespace, args.job, args.full))
    return 0


async def cmd_pause(kube: Kube, args: argparse.Namespace) -> int:
    print(await pause_job(kube, args.namespace, args.job, args.command == "pause"))
    return 0


async def cmd_abort(kube: Kube, args: argparse.Namespace) -> int:
    print(await abort_job(kube, args.namespace, args.job))
    return 0


async def cmd_restart(kube: Kube, args: argparse.Namespace) -> int:
    """The annotation nodewave.io/restartAt = now (+ --in), in UTC: executions created before
    that time are recreated in waves once it has come (core/rollout/restart.py)."""
    job = await get_job(kube, args.namespace, args.job)
    if (job.get("status") or {}).get("stableVersion") is None:
        raise PluginError(f'Job "{args.job}" has no stable version to restart yet')
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=args.delay)
    value = at.isoformat().replace("+00:00", "Z")
    await _patch_job(kube, args, {"metadata": {"annotations": {ANNOTATION_RESTART: value}}})
    when = f"at {value}" if args.delay else "now"
    print(f"job.nodewave.io/{args.job} restarts {when}: every execution of the current "
          "version recreated in waves, health windows and failure budget as in a rollout")  # fmt: skip
    return 0


async def cmd_uncordon(kube: Kube, args: argparse.Namespace) -> int:
    """Asks the operator (which holds the node RBAC) to release the node: an annotation on the
    quarantined execution, so the person needs only the rollout-operator role."""
    await get_job(kube, args.namespace, args.job)
    labels = {LABEL_JOB: label_value(args.job), LABEL_NODE: label_value(args.node)}
    found = [e for e in await list_executions(kube, args.namespace, labels, {"spec.nodeName": args.node})
             if ((e.get("status") or {}).get("maintenance") or {}).get("quarantined")]  # fmt: skip
    if not found:
        raise PluginError(f"node {args.node} is not quarantined by Job {args.job}")
    for ex in found:
        patch = {"metadata": {"annotations": {ANNOTATION_RELEASE: "true"}}}
        await kube.merge_patch(path_of("executions", args.namespace, ex["metadata"]["name"]), patch)
    print(f"node/{args.node} released: the operator uncordons it and removes "
          f"{LABEL_QUARANTINED}")  # fmt: skip
    return 0


async def _retry_job(kube: Kube, args: argparse.Namespace, job: dict[str, Any]) -> int:
    """Lift an abort: the same version rolls out again from the stable one. Its executions
    that failed before the abort would count against the new rollout's budget at once, so they
    go; the operator starts each node's again in its wave."""
    status = read_job_status(job)
    name = f"job.nodewave.io/{args.job}"
    rs = status.rollout
    if rs is None or rs.phase is not RolloutPhase.ABORTED:
        phase = rs.phase if rs is not None else "not rolling out"
        raise PluginError(f"{name} is not aborted ({phase}); to retry one node: "
                          f"kubectl nodewave retry {args.job} --node NODE")  # fmt: skip
    labels = {LABEL_JOB: label_value(args.job), LABEL_VERSION: str(rs.version)}
    failed = [e["metadata"]["name"]
              for e in await list_executions(kube, args.namespace, labels, {})
              if (e.get("status") or {}).get("observedState") == "Failed"
              and not is_pod_record(e)]  # fmt: skip
    for ex in failed:
        await kube.delete(path_of("executions", args.namespace, ex), foreground=True)
    await _patch_job(kube, args, {"metadata": {"annotations": {ANNOTATION_ABORT: None}}})
    print(f"{name} version {rs.version} rolls out again from version {status.stable_version}"
          + (f" ({len(failed)} failed executions removed)" if failed else ""))  # fmt: skip
    return 0


async def _revisions(kube: Kube, ns: str, job: str) -> list[dict[str, Any]]:
    found = await get_object(
        kube,
        path_of("controllerrevisions", ns),
        "revisions",
        {"labelSelector": f"{LABEL_JOB}={label_value(job)}"},
    )
    return sorted(found.get("items", []), key=lambda r: r["revision"])


async def cmd_history(kube: Kube, args: argparse.Namespace) -> int:
    job = await get_job(kube, args.namespace, args.job)
    versions = build_history(job, await _revisions(kube, args.namespace, args.job))
    emit(args.output, {"job": args.job, "versions": versions}, lambda: render_history(versions))
    return 0


async def cmd_rollback(kube: Kube, args: argparse.Namespace) -> int:
    job = await get_job(kube, args.namespace, args.job)
    status = job.get("status") or {}
    target = args.to_version or status.get("stableVersion")
    if target is None or (target == status.get("currentVersion") and args.to_version is None):
        revs = [
            r["revision"]
            for r in await _revisions(kube, args.namespace, args.job)
            if r["revision"] != status.get("currentVersion")
        ]
        target = max(revs) if revs else None
    rev = next(
        (r for r in await _revisions(kube, args.namespace, args.job) if r["revision"] == target),
        None,
    )
    if rev is None:
        raise PluginError(
            f"version {target} of job {args.job} is not kept (see `kubectl nodewave history {args.job}`)"
        )
    data = rev["data"]
    # Put the version's spec back, and promote it past every pause: going back is a decision
    # already made, so neither a canary nor a step's pause waits for a second one (its waves
    # are still health-checked).
    patch = {
        "metadata": {"annotations": {ANNOTATION_PROMOTE: build_promote_value(target, EVERY_PAUSE)}},
        "spec": {
            "type": data["type"],
            "template": data["template"],
            "config": data.get("config") or {},
        },
    }
    await _patch_job(kube, args, patch)
    print(f"job.nodewave.io/{args.job} rolled back to version {target}")
    return 0


async def cmd_executions(kube: Kube, args: argparse.Namespace) -> int:
    labels = {}
    fields = {}
    if args.job:
        labels[LABEL_JOB] = label_value(args.job)
    if args.version is not None:
        labels[LABEL_VERSION] = str(args.version)
    if args.node:
        labels[LABEL_NODE] = label_value(args.node)
        fields["spec.nodeName"] = args.node
    if args.state:
        fields["status.observedState"] = args.state
    if args.wave is not None:
        fields["spec.rolloutWave"] = str(args.wave)
    execs = await list_executions(kube, _listing(args), labels, fields)
    every = args.all_namespaces
    emit(args.output, build_list(execs), lambda: render_executions(execs, every))
    return 0


def _listing(args: argparse.Namespace) -> str | None:
    """The namespace a list is in; None with -A (every namespace)."""
    return None if args.all_namespaces else args.namespace


async def cmd_stats(kube: Kube, args: argparse.Namespace) -> int:
    labels = {LABEL_JOB: label_value(args.job)} if args.job else {}
    stats = build_stats(await list_executions(kube, _listing(args), labels, {}), STATES)
    emit(args.output, stats, lambda: render_stats(stats))
    return 0


async def cmd_get(kube: Kube, args: argparse.Namespace) -> int:
    """The Job as a tree: versions → waves → executions; with --watch, redrawn at each change
    (a terminal) or printed again (anything else) until interrupted."""
    job = await get_job(kube, args.namespace, args.job)  # not found, forbidden: said at once
    if not args.watch:
        tree = build_tree(job, await _job_executions(kube, args))
        emit(args.output, tree, lambda: render_tree(tree))
        return 0
    clear = "\x1b[2J\x1b[H" if sys.stdout.isatty() and not args.output else ""
    async with JobWatch(kube, args.namespace, args.job, executions=True) as watch:
        while (current := watch.job()) is not None:
            tree = build_tree(current, watch.executions())
            if args.output == "yaml":
                print("---")
            emit(args.output, tree, lambda: clear + render_tree(tree))  # noqa: B023
            await watch.next_change(None)
    raise PluginError(f'Job "{args.job}" in namespace "{args.namespace}" was deleted')


async def cmd_cancel(kube: Kube, args: argparse.Namespace) -> int:
    ns, name = args.namespace, args.execution
    path = path_of("executions", ns, name)
    if await kube.get(path) is None:  # only its pod stands for it (--pod-records)
        return await _cancel_pod_record(kube, ns, name)
    await kube.merge_patch(path, {"spec": {"desiredState": "Stopped"}})
    print(f"execution.nodewave.io/{name} cancelled")
    return 0


async def _cancel_pod_record(kube: Kube, ns: str, name: str) -> int:
    """Asked on its Job (`record.ANNOTATION_CANCEL`, for this run of it: its pod's
    incarnation): the operator makes its Execution, saying Stopped, and stops it; the request
    is then taken back, so the annotation holds only requests in flight (one left behind, by
    an interrupted command, asks nothing of a later run)."""
    job, incarnation = await _pod_record(kube, ns, name)
    await set_cancel(kube, ns, job, name, incarnation)
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while time.monotonic() < deadline:
        found = await kube.get(path_of("executions", ns, name))
        spec = (found or {}).get("spec") or {}
        if spec.get("desiredState") == "Stopped" and spec.get("incarnation") == incarnation:
            await set_cancel(kube, ns, job, name, None)
            print(f"execution.nodewave.io/{name} cancelled")
            return 0
        await asyncio.sleep(0.5)
    print(f"execution.nodewave.io/{name}: cancel asked on job.nodewave.io/{job} "
          f"({ANNOTATION_CANCEL}); the operator has not carried it out within "
          f"{CANCEL_WAIT_SECONDS:.0f}s (is it running?)", file=sys.stderr)  # fmt: skip
    return EXIT_TIMEOUT


async def _pod_record(kube: Kube, ns: str, name: str) -> tuple[str, str]:
    """The Job and incarnation of the execution `name` only its pod stands for (the
    operator's rule, `record.select_pod_records`); not found as for an Execution when none."""
    pod = await kube.get(path_of("pods", ns, name))
    info = parse_pod(pod) if pod is not None else None
    job = await kube.get(path_of("jobs", ns, info.job_name)) if info and info.job_name else None
    if (
        info is None
        or job is None
        or not select_pod_records({name: info}, (), job["metadata"]["uid"])
    ):
        raise PluginError(f'Execution "{name}" in namespace "{ns}" not found')
    return info.job_name, info.incarnation


async def cmd_retry(kube: Kube, args: argparse.Namespace) -> int:
    if args.node:  # `retry JOB --node N`: the Job's current version on that node
        job = await get_job(kube, args.namespace, args.execution)
        version = (job.get("status") or {}).get("currentVersion")
        labels = {LABEL_JOB: label_value(args.execution), LABEL_NODE: label_value(args.node),
                  LABEL_VERSION: str(version)}  # fmt: skip
        found = await list_executions(kube, args.namespace, labels, {})
        if not found:
            raise PluginError(f"Job {args.execution} has no execution of version {version} "
                              f"on node {args.node}")  # fmt: skip
        args.execution = found[0]["metadata"]["name"]
    ex = await kube.get(path_of("executions", args.namespace, args.execution))
    # `retry JOB`: a name that is no execution but a Job lifts that Job's abort.
    if (
        ex is None
        and not args.node
        and (aborted := await kube.get(path_of("jobs", args.namespace, args.execution)))
    ):
        args.job = args.execution
        return await _retry_job(kube, args, aborted)
    if ex is None:  # not found, unless only its pod stands for it: running, nothing to retry
        await _pod_record(kube, args.namespace, args.execution)
        raise PluginError(f"execution {args.execution} is running as its pod alone; only "
                          "Failed, Completed or Stopped executions can be retried")  # fmt: skip
    job = ex["spec"]["jobName"]
    state = (ex.get("status") or {}).get("observedState")
    if state not in ("Failed", "Completed", "Stopped"):
        raise PluginError(
            f"execution {args.execution} is {state}; only Failed, Completed or Stopped executions can be retried"
        )
    # A cancel asked on the Job and never taken back would stop it again. The operator deletes
    # its pod and re-creates a wanted execution under the same name, with a fresh status, once
    # the pod is gone. Foreground: an execution made by an earlier release, which controls its
    # pod, goes only with it.
    await set_cancel(kube, args.namespace, job, args.execution, None)
    await kube.delete(path_of("executions", args.namespace, args.execution), foreground=True)
    print(f"execution.nodewave.io/{args.execution} retried: the operator starts it again")
    return 0


async def cmd_version(kube: Kube, args: argparse.Namespace) -> int:
    """The plugin's version and the running operator's, as its leader wrote it on its Lease:
    in --operator-namespace, or in any namespace the caller may list Leases in (the plugin's
    own is printed before connecting, `main`, unless -o asks for one document)."""
    document: dict[str, Any] = {"plugin": {"version": __version__}, "operators": []}
    try:
        if args.operator_namespace:
            found = await kube.get(path_of("leases", args.operator_namespace, LEASE_NAME))
            leases = [found] if found is not None else []
        else:
            listed = await kube.request(
                "GET",
                "/apis/coordination.k8s.io/v1/leases",
                query={"fieldSelector": f"metadata.name={LEASE_NAME}"},
            )
            leases = listed.get("items") or []
    except KubeError as e:
        where = args.operator_namespace or "any namespace"
        document["error"] = f"cannot read its Lease in {where}: {e.message or e.reason}"
        emit(args.output, document, lambda: f"operator: unknown ({document['error']})")
        return 0
    document["operators"] = [build_operator(lease, ANNOTATION_OPERATOR_VERSION) for lease in leases]
    if not leases:
        document["error"] = (
            f"no Lease {LEASE_NAME} found (not running, or elsewhere: --operator-namespace)"
        )
    emit(args.output, document, lambda: "\n".join(
        [render_operator(o) for o in document["operators"]] or [f"operator: {document['error']}"]
    ))  # fmt: skip
    return 0


COMMANDS = {
    "status": cmd_status,
    "promote": cmd_promote,
    "pause": cmd_pause,
    "resume": cmd_pause,
    "abort": cmd_abort,
    "restart": cmd_restart,
    "uncordon": cmd_uncordon,
    "rollback": cmd_rollback,
    "history": cmd_history,
    "executions": cmd_executions,
    "stats": cmd_stats,
    "cancel": cmd_cancel,
    "retry": cmd_retry,
    "plan": cmd_plan,
    "dashboard": cmd_dashboard,
    "version": cmd_version,
    "get": cmd_get,
}


READS = ("status", "get", "history", "executions", "stats", "version")
"""The commands that only read: each takes -o json|yaml."""


def _add_kubectl_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """kubectl's global flags that the plugin honours (kubectl hands a plugin its arguments
    as they were typed)."""
    parser.add_argument("-n", "--namespace", default=default)
    parser.add_argument("--kubeconfig", default=default)
    parser.add_argument("--context", default=default)
    parser.add_argument("--token", default=default, help="bearer token for the API server")
    parser.add_argument("--as", dest="as_user", default=default, help="user to impersonate")
    parser.add_argument("--as-group", action="append", default=default,
                        help="group to impersonate (repeatable)")  # fmt: skip
    parser.add_argument("--as-uid", default=default, help="UID to impersonate")
    parser.add_argument("--request-timeout", type=parse_duration, default=default,
                        help="how long one request may take (default 30s; 0: no limit)")  # fmt: skip
    parser.add_argument("-v", "--v", type=int, default=default,
                        help="log level: 6 prints each request to stderr")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl nodewave",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # kubectl's own flags, before or after the command; -n defaults to the context's namespace.
    common = argparse.ArgumentParser(add_help=False)
    _add_kubectl_flags(common, argparse.SUPPRESS)
    _add_kubectl_flags(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("status", "get", "promote", "pause", "resume", "abort", "restart", "rollback",
                 "history"):  # fmt: skip
        p = sub.add_parser(name, parents=[common])
        p.add_argument("job")
        if name in READS:
            p.add_argument("-o", "--output", choices=FORMATS)
        if name in ("status", "get"):
            p.add_argument("--watch", "-w", action="store_true",
                           help="wait for the rollout's end" if name == "status" else
                           "follow the changes until interrupted")  # fmt: skip
        if name == "status":
            p.add_argument("--timeout", type=parse_duration, default=0.0,
                           help="with --watch: give up after this long (exit 2), e.g. 10m")  # fmt: skip
            p.add_argument("--until-paused", action="store_true",
                           help="with --watch: end (exit 0) at a canary awaiting promotion or a pause")  # fmt: skip
        if name == "rollback":
            p.add_argument("--to-version", type=int)
        if name == "restart":
            p.add_argument("--in", dest="delay", type=parse_duration, default=0.0,
                           help="restart this long from now (e.g. 1h, 30m)")  # fmt: skip
        if name == "promote":
            p.add_argument("--full", action="store_true", help="every remaining node in one "
                           "wave once the current one settled (health and budget as always)")  # fmt: skip
    for name in ("executions", "stats"):
        p = sub.add_parser(name, parents=[common])
        p.add_argument("-A", "--all-namespaces", action="store_true")
        p.add_argument("-o", "--output", choices=FORMATS)
        p.add_argument("--job")
        if name == "executions":
            p.add_argument("--node")
            p.add_argument("--state", choices=STATES)
            p.add_argument("--wave", type=int)
            p.add_argument("--version", type=int)
    for name in ("cancel", "retry"):
        p = sub.add_parser(name, parents=[common])
        p.add_argument("execution", help="an execution; for retry also a Job (lift its "
                       "abort, or with --node: retry its current version on that node)")  # fmt: skip
        if name == "retry":
            p.add_argument("--node", help="retry the Job's current version on this node (a "
                           "failed or reverted one)")  # fmt: skip
    _add_tools(sub, common)
    return parser


def _add_tools(sub: Any, common: argparse.ArgumentParser) -> None:
    """The commands about a node, the cluster or a manifest rather than one Job's rollout."""
    p = sub.add_parser("uncordon", parents=[common], help="release a quarantined node")
    p.add_argument("job")
    p.add_argument("node")
    p = sub.add_parser("dashboard", parents=[common],
                       help="a live web view of the Jobs and their node maps, on 127.0.0.1")  # fmt: skip
    p.add_argument("--port", type=int, default=3100, help="default %(default)s")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p = sub.add_parser("version", parents=[common],
                       help="the plugin's version and the running operator's")  # fmt: skip
    p.add_argument("--operator-namespace", help="where the operator runs (default: look in all)")
    p.add_argument("-o", "--output", choices=FORMATS)
    p = sub.add_parser("completion", help="a shell completion script: source <(kubectl-nodewave "
                       "completion bash); kubectl itself uses kubectl_complete-nodewave")  # fmt: skip
    p.add_argument("shell", choices=sorted(SCRIPTS))
    p = sub.add_parser("plan", parents=[common], help="what applying a Job manifest would do")
    p.add_argument("-f", "--filename", required=True, help="the Job manifest (- for stdin)")


async def _run(args: argparse.Namespace) -> int:
    kube = await _connect(args)
    try:
        return await COMMANDS[args.command](kube, args)
    except KubeError as e:
        raise PluginError(e.message or str(e)) from e
    except TimeoutError as e:  # aiohttp's total timeout: --request-timeout, else 30 s
        raise PluginError(TIMED_OUT) from e
    except ConfigError as e:  # a credential plugin that failed, or is not installed
        raise PluginError(str(e)) from e
    finally:
        await kube.close()


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["__complete"]:  # the completion scripts' call: words as typed, unparsed
        return answer(build_parser(), words[1:])
    args = build_parser().parse_args(words)
    args.as_group = collect_repeated(words, "--as-group") or None
    if args.command == "completion":
        print(SCRIPTS[args.shell], end="")
        return 0
    try:
        if args.command == "version" and not args.output:  # with a cluster or without
            print(f"kubectl-nodewave {__version__}", flush=True)
        if args.namespace is None:
            args.namespace = default_namespace(args.kubeconfig, args.context)
        return asyncio.run(_run(args))
    except PluginError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR if args.command == "plan" else 1
    except KeyboardInterrupt:
        return 130


def complete_main(argv: Sequence[str] | None = None) -> int:
    """`kubectl_complete-nodewave WORDS...`: what kubectl runs to complete the plugin's words."""
    return answer(build_parser(), list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())

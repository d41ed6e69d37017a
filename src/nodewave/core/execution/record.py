"""What an execution's pod says of its execution.

A pod is made with everything known of its execution at that moment (`podspec.build_pod`:
the Job, version and wave as labels, the node's full name and the execution it replaces as
annotations), in the same create, so it costs no write of its own. This reads it back: the
first step towards the pod as the record of a node on the normal path, with no custom-resource
write per node (docs/design.md §4.2, issue 29). The spec read from a pod must equal the
execution's own; tests hold the two together on every path that makes a pod.
"""

from __future__ import annotations

from nodewave.core.vocabulary.actions import CreatePod
from nodewave.core.vocabulary.snapshot import ExecutionInfo, PodInfo
from nodewave.models.execution import DesiredState, ExecutionSpec


def build_pod_action(execution: ExecutionInfo) -> CreatePod:
    """The pod `execution` runs in, with all its spec knows (the one way a pod is asked for:
    the planner's and the create that returns the execution's uid)."""
    spec = execution.spec
    return CreatePod(
        execution.name,
        execution.uid,
        spec.node_name,
        spec.job_version,
        spec.rollout_wave,
        spec.previous_execution,
    )


def build_record_spec(pod: PodInfo) -> ExecutionSpec | None:
    """The spec of the execution `pod` runs, as the pod says it; None for a pod that does not
    say (a pull-only pod, a pod made before pods said it, anyone else's).

    The desired state is Running: the operator deletes the pod of an execution it stops, so a
    pod that exists is one its execution wants running (a stop asked for and not yet carried
    out is the execution's to say)."""
    if pod.pre_pull_of is not None or pod.version is None or not pod.job_name:
        return None
    if not pod.target_node:
        return None
    return ExecutionSpec(
        job_name=pod.job_name,
        job_version=pod.version,
        node_name=pod.target_node,
        rollout_wave=pod.wave,
        desired_state=DesiredState.RUNNING,
        previous_execution=pod.previous_execution,
    )

"""The pod of an execution and the ConfigMap of a version (core/execution/podspec.py): what the kubelet
gets. Real nodes showed what a missing mount costs (a pod stuck ContainerCreating), so every
part the workload relies on is asserted here, not only in the cluster tests."""

from __future__ import annotations

import json
from typing import Any

from nodewave.core.execution.podspec import (
    CONFIG_DIR,
    CONFIG_VOLUME,
    DAEMON_TOLERATIONS,
    build_configmap,
    build_pod,
    build_unmarked_pod,
)
from nodewave.core.vocabulary.actions import CreatePod
from nodewave.core.vocabulary.snapshot import VersionSpec
from nodewave.models.job import JobType, RestartPolicy
from tests.unit.builders import job

CONFIG = {"sink": "https://logs", "batch": 500}


def version(template: dict[str, Any] | None = None) -> VersionSpec:
    template = template or {
        "metadata": {"labels": {"app": "shipper"}, "annotations": {"team": "obs"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "app:1",
                    "env": [{"name": "OWN", "value": "1"}, {"name": "NODEWAVE_JOB", "value": "x"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                },
                {"name": "sidecar", "image": "side:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        },
    }
    return VersionSpec(3, JobType.PIPELINE, template, CONFIG)


def pod(
    template: dict[str, Any] | None = None,
    policy: RestartPolicy = RestartPolicy.ALWAYS,
    previous: str | None = "j-v2-n1-def",
    incarnation: str | None = "abc",
) -> Any:
    action = CreatePod("j-v3-n1-abc", "ex-uid", "n1", 3, 2, previous, incarnation)
    return build_pod(job(), version(template), action, policy)


def test_identity_labels_and_owner() -> None:
    p = pod()
    meta = p["metadata"]
    assert (meta["name"], meta["namespace"]) == ("j-v3-n1-abc", "ns")
    assert meta["labels"] == {
        "app": "shipper",
        "nodewave.io/job": "j",
        "nodewave.io/version": "3",
        "nodewave.io/node": "n1",
        "nodewave.io/execution": "j-v3-n1-abc",
        "nodewave.io/wave": "2",
        "app.kubernetes.io/managed-by": "nodewave",
    }
    assert meta["annotations"] == {
        "team": "obs",
        "nodewave.io/job": "j",
        "nodewave.io/node": "n1",
        "nodewave.io/previous-execution": "j-v2-n1-def",
        "nodewave.io/incarnation": "abc",
    }
    # The first execution on a node replaces none: nothing is said.
    assert "nodewave.io/previous-execution" not in pod(previous=None)["metadata"]["annotations"]
    # The Job controls it (an execution's create need not return before its pod's is sent).
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "nodewave.io/v1alpha1",
            "kind": "Job",
            "name": "j",
            "uid": "job-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    # An execution made by an earlier release, without an incarnation, controls its pod.
    old = pod(incarnation=None)["metadata"]
    assert "nodewave.io/incarnation" not in old["annotations"]
    assert [(r["kind"], r["name"], r["uid"]) for r in old["ownerReferences"]] == [
        ("Execution", "j-v3-n1-abc", "ex-uid")
    ]


def test_unmarked_the_pod_keeps_all_but_the_operators_marks() -> None:
    """What `kubectl nodewave plan` dry-runs as the user: the chart's policy keeps owner
    references to nodewave.io objects and nodewave.io/ keys on pods for the operator."""
    p = pod()
    bare = build_unmarked_pod(p)
    assert "ownerReferences" not in bare["metadata"]
    assert bare["metadata"]["labels"] == {
        "app": "shipper", "app.kubernetes.io/managed-by": "nodewave"}  # fmt: skip
    assert bare["metadata"]["annotations"] == {"team": "obs"}
    assert (bare["metadata"]["name"], bare["spec"]) == (p["metadata"]["name"], p["spec"])
    assert "ownerReferences" in p["metadata"]  # the operator's pod is left as it was


def test_pinned_to_its_node_by_name_and_tolerating_what_a_daemon_tolerates() -> None:
    spec = pod()["spec"]
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
        ]
    }
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Exists"},
        *(dict(t) for t in DAEMON_TOLERATIONS),
    ]
    assert "nodeName" not in spec, "the scheduler binds it"


def test_restart_policy_and_service_account() -> None:
    assert pod(policy=RestartPolicy.NEVER)["spec"]["restartPolicy"] == "Never"
    assert pod()["spec"]["serviceAccountName"] == "default"
    own = version().template["spec"] | {"serviceAccountName": "agent"}
    assert pod({"spec": own})["spec"]["serviceAccountName"] == "agent"


def test_every_container_gets_the_config_as_env_and_as_a_file() -> None:
    spec = pod()["spec"]
    for container in spec["containers"]:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["NODEWAVE_JOB"] == "j", "the template cannot override ours"
        assert (env["NODEWAVE_VERSION"], env["NODEWAVE_NODE"]) == ("3", "n1")
        assert env["NODEWAVE_EXECUTION"] == "j-v3-n1-abc"
        assert json.loads(env["NODEWAVE_CONFIG"]) == CONFIG
        assert container["volumeMounts"][-1] == {
            "name": CONFIG_VOLUME,
            "mountPath": CONFIG_DIR,
            "readOnly": True,
        }
    main = spec["containers"][0]
    assert [e["name"] for e in main["env"]] == [
        "OWN", "NODEWAVE_JOB", "NODEWAVE_VERSION", "NODEWAVE_NODE", "NODEWAVE_EXECUTION",
        "NODEWAVE_CONFIG",
    ], "the template's own env first, its NODEWAVE_ ones replaced by ours"  # fmt: skip
    assert main["env"][-1]["value"] == '{"batch": 500, "sink": "https://logs"}', "keys sorted"
    assert main["volumeMounts"][0] == {"name": "data", "mountPath": "/data"}
    assert spec["volumes"] == [
        {"name": "data", "emptyDir": {}},
        {"name": CONFIG_VOLUME, "configMap": {"name": "j-config-v3"}},
    ]


def test_a_template_volume_named_like_ours_is_replaced_not_doubled() -> None:
    template = version().template
    clash = {
        "spec": {
            **template["spec"],
            "volumes": [{"name": CONFIG_VOLUME, "emptyDir": {}}],
            "containers": [
                {
                    "name": "main",
                    "image": "a",
                    "volumeMounts": [{"name": CONFIG_VOLUME, "mountPath": "/x"}],
                }
            ],
        }
    }
    spec = pod(clash)["spec"]
    assert [v["name"] for v in spec["volumes"]] == [CONFIG_VOLUME]
    assert spec["volumes"][0]["configMap"] == {"name": "j-config-v3"}
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True}
    ]


def test_the_template_itself_is_not_changed() -> None:
    v = version()
    before = json.dumps(v.template, sort_keys=True)
    build_pod(job(), v, CreatePod("e", "", "n1", 3, 0, None, "abc"), RestartPolicy.ALWAYS)
    assert json.dumps(v.template, sort_keys=True) == before


def test_the_version_configmap_holds_the_config_and_belongs_to_the_job() -> None:
    cm = build_configmap(job(), version())
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("j-config-v3", "ns")
    assert cm["metadata"]["labels"] == {
        "nodewave.io/job": "j",
        "nodewave.io/version": "3",
        "app.kubernetes.io/managed-by": "nodewave",
    }
    owner = cm["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", "j", "job-uid")
    assert json.loads(cm["data"]["config.json"]) == CONFIG
    assert cm["data"]["config.json"] == json.dumps(CONFIG, sort_keys=True, indent=2)


def test_a_minimal_template_gets_a_whole_pod() -> None:
    """No tolerations, volumes or env in the template; an env entry without a name is left for
    the API server to judge, not dropped here."""
    minimal = {
        "spec": {"containers": [{"name": "main", "image": "app:1", "env": [{"value": "?"}]}]}
    }
    built = pod(minimal)
    assert (built["apiVersion"], built["kind"]) == ("v1", "Pod")
    spec = built["spec"]
    assert spec["tolerations"] == list(DAEMON_TOLERATIONS)
    assert spec["volumes"] == [{"name": CONFIG_VOLUME, "configMap": {"name": "j-config-v3"}}]
    assert spec["containers"][0]["env"][0] == {"value": "?"}
    assert pod({"spec": {}})["spec"]["volumes"] == spec["volumes"], (
        "no containers: nothing to mount"
    )


def test_the_configmap_is_a_v1_configmap_owned_by_the_nodewave_job() -> None:
    cm = build_configmap(job(), version())
    assert (cm["apiVersion"], cm["kind"]) == ("v1", "ConfigMap")
    assert cm["metadata"]["ownerReferences"][0]["apiVersion"] == "nodewave.io/v1alpha1"

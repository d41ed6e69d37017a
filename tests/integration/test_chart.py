"""The Helm chart: lint, a values schema that rejects typos, manifests the API server accepts,
an install whose pod passes the `restricted` Pod Security level, and least-privilege RBAC."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from nodewave.localcluster.controlplane import REPO_ROOT, ControlPlane
from tests.conftest import kubectl_json, wait_for
from tests.integration.helm import CHART, helm


def test_lint_and_schema(cluster: ControlPlane) -> None:
    lint = helm(cluster, "lint", str(CHART))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    typo = helm(
        cluster, "template", "t", str(CHART), "--kube-version", "1.34.4", "--set", "metrics.prot=1"
    )
    assert typo.returncode != 0
    assert "additional properties 'prot' not allowed" in typo.stderr


def test_rendered_manifests_are_accepted(cluster: ControlPlane, tmp_path: Path) -> None:
    done = helm(
        cluster,
        "template",
        "nw",
        str(CHART),
        "--kube-version",
        "1.34.4",
        "--namespace",
        "default",
        "--set",
        "prometheusRule.enabled=true,metrics.serviceMonitor.enabled=true,"
        "podDisruptionBudget.enabled=true,grafanaDashboard.enabled=true,networkPolicy.enabled=true",
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "NetworkPolicy",
        "CustomResourceDefinition",
    } <= kinds
    dashboard = next(d for d in docs if d["kind"] == "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = (CHART / "files" / "grafana-dashboard.json").read_text()
    assert json.loads(dashboard["data"]["nodewave.json"]) == json.loads(shipped)
    for d in docs:
        for rule in d.get("rules", []) if d["kind"] in ("ClusterRole", "Role") else []:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
    # The Prometheus Operator's kinds are not served here: check the rules with promtool instead.
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    check = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "rules.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    core = [d for d in docs if d["kind"] not in ("ServiceMonitor", "PrometheusRule")]
    dry = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(core), check=False
    )
    assert dry.returncode == 0, dry.stderr


def test_install_restricted_and_least_privilege(cluster: ControlPlane) -> None:
    ns, watched = "nodewave-system", "tenant-a"
    for n in (ns, watched):
        cluster.kubectl("create", "namespace", n, check=False)
    cluster.kubectl(
        "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "--overwrite"
    )
    done = helm(
        cluster,
        "install",
        "nodewave",
        str(CHART),
        "--namespace",
        ns,
        "--set",
        f"watchNamespaces={{{watched}}}",
        "--wait",
        "--timeout",
        "120s",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        wait_for(
            lambda: (
                cluster.kubectl(
                    "get",
                    "deploy",
                    "-n",
                    ns,
                    "nodewave",
                    "-o",
                    "jsonpath={.status.availableReplicas}",
                ).stdout
                == "2"  # the chart's two replicas: one leads, one stands by
            ),
            60,
            "operator Deployment available under the restricted policy",
        )
        sa = f"system:serviceaccount:{ns}:nodewave"

        def can(*args: str) -> bool:
            return (
                cluster.kubectl("auth", "can-i", "--as", sa, *args, check=False).stdout.strip()
                == "yes"
            )

        assert can("create", "executions.nodewave.io", "-n", watched)
        assert can("patch", "jobs.nodewave.io", "--subresource=status", "-n", watched)
        assert can("create", "pods", "-n", watched)
        assert can("list", "nodes")
        assert can("watch", "namespaces")  # their labels opt in to host access
        assert not can(
            "create", "executions.nodewave.io", "-n", "default"
        )  # outside watchNamespaces
        assert not can("get", "secrets", "-n", watched)
        assert not can("list", "secrets", "-n", watched)
        # Webhook signing keys and health checks' credentials: the Secrets the chart names,
        # read one by one.
        assert can("get", "secrets/nodewave-webhooks", "-n", watched)
        assert can("get", "secrets/nodewave-prometheus", "-n", watched)
        assert not can("get", "secrets/nodewave-prometheus", "-n", "default")
        assert not can("get", "secrets/nodewave-webhooks", "-n", "default")
        assert not can("get", "secrets/other", "-n", watched)
        assert not can("delete", "nodes")
        assert not can("patch", "jobs.nodewave.io", "-n", watched)  # the user's spec: status only
        assert not can("delete", "jobs.nodewave.io", "-n", watched)
        assert not can("create", "pods", "--subresource=exec", "-n", watched)
        # Leader election: its own Lease in its own namespace, no other, nowhere else.
        assert can("update", "leases.coordination.k8s.io/nodewave-operator", "-n", ns)
        assert can("create", "leases.coordination.k8s.io", "-n", ns)
        assert not can("update", "leases.coordination.k8s.io/other", "-n", ns)
        assert not can("update", "leases.coordination.k8s.io/nodewave-operator", "-n", watched)
        assert not can("delete", "leases.coordination.k8s.io", "-n", ns)
        pdb = kubectl_json(cluster, "get", "pdb", "-n", ns, "nodewave")
        assert pdb["spec"]["minAvailable"] == 1
        # Node maintenance (cordon, drain) is opt-in: no node writes nor evictions by default.
        assert not can("patch", "nodes")
        assert not can("create", "pods", "--subresource=eviction", "-n", "default")
        assert not can("list", "pods", "-n", "default")
        done = helm(cluster, "upgrade", "nodewave", str(CHART), "--namespace", ns,
                    "--reuse-values", "--set", "nodeMaintenance.enabled=true")  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert can("patch", "nodes")
        assert can("create", "pods", "--subresource=eviction", "-n", "default")
        assert can("list", "pods", "-n", "default")
        assert not can("delete", "pods", "-n", "default"), "evictions only, never a delete"
        assert not can("delete", "nodes")
    finally:
        helm(cluster, "uninstall", "nodewave", "--namespace", ns)


def render(cp: ControlPlane, *sets: str) -> list[dict[str, Any]]:
    args = [a for s in sets for a in ("--set-json", s)]
    done = helm(cp, "template", "nw", str(CHART), "--kube-version", "1.34.4", "-n", "ops", *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


DIGEST = "sha256:" + "5e" * 32
"""An image digest, as a released chart pins its image (make release)."""


def test_every_value_for_the_operators_pod_lands_where_it_belongs(cluster: ControlPlane) -> None:
    """What platform charts carry (argo-helm's argo-rollouts chart as the model), each value
    set and found in the rendered manifests."""
    docs = render(
        cluster,
        'imagePullSecrets=[{"name":"mirror"}]',
        f'image={{"repository":"mirror.example/nodewave","tag":"0.2.0","digest":"{DIGEST}"}}',
        'podAnnotations={"sidecar.istio.io/inject":"false"}',
        'podLabels={"team":"platform"}',
        'priorityClassName="system-cluster-critical"',
        'serviceAccount={"create":true,"name":"nw-sa","annotations":{"iam":"role-1"}}',
        'extraArgs=["--log-level=debug"]',
        'extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy:3128"}]',
        # OpenShift's way: the UID comes from the namespace's range.
        'podSecurityContext={"runAsUser":null,"runAsGroup":null}',
        'securityContext={"readOnlyRootFilesystem":false}',
        'metrics={"port":8000,"serviceMonitor":{"enabled":true,"interval":"15s",'
        '"additionalLabels":{"release":"kps"},"namespace":"monitoring"}}',
        'prometheusRule={"enabled":true,"additionalLabels":{"release":"kps"},'
        '"namespace":"monitoring"}',
    )
    pod = one(docs, "Deployment")["spec"]["template"]
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert pod["metadata"]["labels"]["team"] == "platform"
    assert spec["imagePullSecrets"] == [{"name": "mirror"}]
    assert container["image"] == f"mirror.example/nodewave:0.2.0@{DIGEST}"
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["serviceAccountName"] == "nw-sa"
    assert "--service-account=ops/nw-sa" in container["args"]
    assert container["args"][-1] == "--log-level=debug"
    assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in container["env"]
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": False,
        "capabilities": {"drop": ["ALL"]},
    }
    sa = one(docs, "ServiceAccount")
    assert (sa["metadata"]["name"], sa["metadata"]["annotations"]) == ("nw-sa", {"iam": "role-1"})
    bound = [
        s["name"]
        for d in docs
        if d["kind"] in ("ClusterRoleBinding", "RoleBinding")
        for s in d["subjects"]
        if s["kind"] == "ServiceAccount"
    ]
    assert bound
    assert set(bound) == {"nw-sa"}
    for kind in ("ServiceMonitor", "PrometheusRule"):
        meta = one(docs, kind)["metadata"]
        assert (meta["namespace"], meta["labels"]["release"]) == ("monitoring", "kps"), kind
    monitor = one(docs, "ServiceMonitor")["spec"]
    assert monitor["namespaceSelector"] == {"matchNames": ["ops"]}
    assert monitor["endpoints"][0]["interval"] == "15s"


def test_the_network_policy_opens_metrics_dns_the_api_server_and_what_the_platform_adds(
    cluster: ControlPlane,
) -> None:
    assert not [d for d in render(cluster) if d["kind"] == "NetworkPolicy"]  # off by default
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
    webhook = {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}], "ports": [{"port": 8443}]}
    docs = render(
        cluster,
        "networkPolicy.enabled=true",
        'networkPolicy.apiServer.cidrs=["10.0.0.1/32"]',
        f"networkPolicy.metricsFrom={json.dumps([monitoring])}",
        f"networkPolicy.extraEgress={json.dumps([webhook])}",
    )
    policy = one(docs, "NetworkPolicy")["spec"]
    pod = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": "metrics"}], "from": [monitoring]}
    ]
    dns, api, extra = policy["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    # In-cluster clients reach the API server's Service on 443, DNATed to its hosts' port.
    assert [p["port"] for p in api["ports"]] == [443, 6443, 8443, 16443]
    assert api["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert extra == webhook
    anywhere = one(render(cluster, "networkPolicy.enabled=true"), "NetworkPolicy")["spec"]
    assert "from" not in anywhere["ingress"][0]
    assert "to" not in anywhere["egress"][1]
    bad = helm(
        cluster, "template", "t", str(CHART), "--kube-version", "1.34.4",
        "--set-json", 'networkPolicy.apiServer.cidrs=["kubernetes.default"]',
    )  # fmt: skip
    assert bad.returncode != 0
    assert "/networkPolicy/apiServer/cidrs/0" in bad.stderr


def test_a_service_account_brought_by_the_platform_is_used_not_made(cluster: ControlPlane) -> None:
    docs = render(cluster, 'serviceAccount={"create":false,"name":"platform-sa"}')
    assert not [d for d in docs if d["kind"] == "ServiceAccount"]
    assert (
        one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "platform-sa"
    )
    bad = helm(
        cluster, "template", "nw", str(CHART), "--set-json", 'extraArgs=["run"]'
    )  # an argument, not a flag: refused by the schema
    assert bad.returncode != 0
    assert "extraArgs" in bad.stderr


def test_the_crds_rendered_are_the_generated_ones_with_the_releases_metadata(
    cluster: ControlPlane,
) -> None:
    generated = {
        path.name: yaml.safe_load(path.read_text()) for path in (REPO_ROOT / "crds").glob("*.yaml")
    }
    crds = [d for d in render(cluster) if d["kind"] == "CustomResourceDefinition"]
    assert sorted(c["metadata"]["name"] for c in crds) == [
        "executions.nodewave.io",
        "jobs.nodewave.io",
    ]
    for crd in crds:
        meta = crd.pop("metadata")
        name = meta["name"]
        want = generated[f"nodewave.io_{name.split('.')[0]}.yaml"]
        assert crd == {k: v for k, v in want.items() if k != "metadata"}, name
        assert meta["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    custom = render(cluster, 'crds={"keep":false,"annotations":{"team":"platform"}}')
    for crd in (d for d in custom if d["kind"] == "CustomResourceDefinition"):
        assert crd["metadata"]["annotations"] == {"team": "platform"}
    assert not [
        d
        for d in render(cluster, 'crds={"install":false}')
        if d["kind"] == "CustomResourceDefinition"
    ]


def test_an_upgrade_brings_the_crds_current_and_an_uninstall_keeps_them(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """Helm's crds/ directory is installed once: a release whose schema gained a field would
    have it pruned on upgrade. Here an older chart (its CRD without a printer column) is
    installed over the cluster's CRDs, then this chart upgrades it: the column is back. An
    uninstall leaves the CRDs (and every Job) in place."""
    ns, release = "nodewave-crds", "crds-test"
    cluster.kubectl("create", "namespace", ns, check=False)
    old = tmp_path / "nodewave"
    shutil.copytree(CHART, old, symlinks=False)
    jobs_crd = old / "files" / "crds" / "nodewave.io_jobs.yaml"
    body = yaml.safe_load(jobs_crd.read_text())
    columns = body["spec"]["versions"][0]["additionalPrinterColumns"]
    dropped = columns.pop()["name"]
    jobs_crd.write_text(yaml.safe_dump(body))

    def column_names() -> list[str]:
        crd = kubectl_json(cluster, "get", "crd", "jobs.nodewave.io")
        return [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]

    try:
        done = helm(cluster, "install", release, str(old), "-n", ns)
        assert done.returncode == 0, done.stdout + done.stderr
        assert dropped not in column_names()
        crd = kubectl_json(cluster, "get", "crd", "jobs.nodewave.io")
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        done = helm(cluster, "upgrade", release, str(CHART), "-n", ns)
        assert done.returncode == 0, done.stdout + done.stderr
        assert column_names()[-1] == dropped
    finally:
        done = helm(cluster, "uninstall", release, "-n", ns)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kept due to the resource policy" in done.stdout + done.stderr
    assert column_names()[-1] == dropped

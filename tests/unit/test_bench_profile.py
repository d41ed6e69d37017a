"""The benchmark's readings of kube-apiserver (bench/reconcile.py): a pprof total in s or ms,
the per-node comparison, and the pod writes by verb and code, since a misread unit or label
would put a wrong figure in bench/results.md."""

from __future__ import annotations

from typing import Any

from bench.reconcile import _seconds_shown, compare_samples, pod_writes, system_cpu


def test_a_pprof_total_is_read_in_seconds_whatever_its_unit() -> None:
    assert _seconds_shown("Showing nodes accounting for 1.25s, 5.3% of 23.45s total") == 1.25
    assert _seconds_shown("Showing nodes accounting for 870ms, 3.7% of 23.45s total") == 0.87
    assert _seconds_shown("no samples") == 0.0


def test_the_comparison_is_per_node_in_ms() -> None:
    text = compare_samples(1000, {"total": 24.42, "JSON": 2.16}, {"total": 18.07, "JSON": 0.52})
    assert text.splitlines()[1:] == [
        "total                         24.42    18.07     6.35",
        "JSON                           2.16     0.52     1.64",
    ]


class Metrics:
    def __init__(self, text: str) -> None:
        self.text = text

    def metrics(self) -> str:
        return self.text


def test_pod_writes_are_counted_by_verb_subresource_and_code() -> None:
    text = "\n".join(
        [
            'apiserver_request_total{code="201",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 5000',
            'apiserver_request_total{code="409",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 99',
            'apiserver_request_total{code="201",component="apiserver",group="",resource="pods",scope="resource",subresource="binding",verb="POST",version="v1"} 5000',
            'apiserver_request_total{code="200",component="apiserver",group="",resource="pods",scope="resource",subresource="",verb="GET",version="v1"} 7',
            'apiserver_request_total{code="201",component="apiserver",group="nodewave.io",resource="executions",scope="resource",subresource="",verb="POST",version="v1alpha1"} 5000',
        ]
    )
    cp: Any = Metrics(text)
    assert pod_writes(cp) == {
        ("POST", "", "201"): 5000,
        ("POST", "", "409"): 99,
        ("POST", "binding", "201"): 5000,
    }
    assert system_cpu({"operator": 4.0, "apiserver": 17.1, "etcd": 2.4}) == 23.5

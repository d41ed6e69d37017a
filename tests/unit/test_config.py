"""The operator's defaults live in OperatorConfig; the CLI's flags and the chart's values must
say the same (a test, since Helm values cannot import Python)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nodewave.cli.main import build_parser
from nodewave.cli.run import build_operator_config
from nodewave.config import OperatorConfig

CHART_VALUES = Path(__file__).resolve().parents[2] / "charts" / "nodewave" / "values.yaml"


def test_the_cli_defaults_are_the_config_defaults() -> None:
    args = build_parser().parse_args(["run"])
    assert build_operator_config(args) == OperatorConfig()


def test_the_cli_builds_the_config_from_its_flags() -> None:
    args = build_parser().parse_args(
        ["run", "-n", "a", "-n", "b", "--max-inflight", "8", "--node-lost-grace", "5"]
    )
    config = build_operator_config(args)
    assert (config.namespaces, config.max_inflight, config.node_lost_grace_seconds) == (
        ("a", "b"),
        8,
        5.0,
    )


def test_the_chart_defaults_are_the_config_defaults() -> None:
    values = yaml.safe_load(CHART_VALUES.read_text())
    defaults = OperatorConfig()
    assert values["maxInflight"] == defaults.max_inflight
    assert values["nodeLostGraceSeconds"] == defaults.node_lost_grace_seconds
    assert values["metrics"]["port"] == defaults.metrics_port
    lease = values["leaderElection"]
    timing = defaults.leader_timing
    assert (lease["leaseDurationSeconds"], lease["renewDeadlineSeconds"]) == (
        timing.lease_duration,
        timing.renew_deadline,
    )
    assert lease["retryPeriodSeconds"] == timing.retry_period


def test_egress_flags_add_to_the_defaults_and_a_bad_network_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(
        ["run", "--egress-allow", "10.96.5.5/32", "--egress-deny", "10.0.0.0/8"]
    )
    config = build_operator_config(args)
    defaults = OperatorConfig()
    assert config.egress_allowed == (*defaults.egress_allowed, "10.96.5.5/32")
    assert config.egress_denied == (*defaults.egress_denied, "10.0.0.0/8")
    assert "169.254.0.0/16" in defaults.egress_denied
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--egress-deny", "10.0.0.0/33"])
    assert "argument --egress-deny: not a network (CIDR): '10.0.0.0/33'" in capsys.readouterr().err

"""The Argo CD health script, run by a real Lua interpreter on Job statuses of every phase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lupa import LuaRuntime

from tests.unit.simulation import NODES, PHASES, as_object, run, stable_on

SCRIPT = (
    Path(__file__).resolve().parents[2] / "charts" / "nodewave" / "files" / "argocd-health.lua"
).read_text()


def to_lua(lua: LuaRuntime, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    fn = lua.eval(f"function(obj)\n{SCRIPT}\nend")
    result = fn(to_lua(lua, obj))
    return result["status"], result["message"]


ARGOCD = {
    "finished": "Healthy",
    "wave-in-progress": "Progressing",
    "awaiting-promotion": "Suspended",
    "paused": "Suspended",
    "waiting-for-window": "Suspended",
    "awaiting-confirmation": "Suspended",
    "step-paused": "Progressing",  # it goes on by itself: nothing to do for a person
    "baking": "Progressing",
    "aborted": "Degraded",
    "rolled-back": "Degraded",
    "failed-no-rollback": "Degraded",
}


@pytest.mark.parametrize(("case", "expected"), ARGOCD.items())
def test_health_by_phase(case: str, expected: str) -> None:
    status, message = health(as_object(PHASES[case]()))
    assert status == expected
    assert message


def test_unobserved_spec_is_progressing() -> None:
    done = run(stable_on(NODES, {"strategy": "Rolling", "maxParallel": 50}), 20)
    assert health(as_object(done, generation=2))[0] == "Progressing"
    assert health({"metadata": {"generation": 1}})[0] == "Progressing"

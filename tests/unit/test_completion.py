"""Shell completion of the plugin (cli/completion.py): what completes each word, and the
scripts for bash, zsh and fish run by the shells themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nodewave.cli.completion import (
    SCRIPTS,
    Completion,
    build_scope,
    complete,
    plan_completions,
)
from nodewave.cli.plugin import build_parser

PARSER = build_parser()
STATES = ("Pending", "Starting", "Validating", "Running", "Degraded", "Completed", "Failed",
          "Lost", "Stopping", "Stopped")  # fmt: skip


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([""], Completion(("status", "get", "promote", "pause", "resume", "abort", "restart",
                           "rollback", "history", "executions", "stats", "cancel", "retry",
                           "uncordon", "dashboard", "version", "completion", "plan"))),
        (["st"], Completion(("status", "stats"))),
        (["pro"], Completion(("promote",))),
        # A command's positional: the Job's name, from the cluster.
        (["status", ""], Completion((), "jobs")),
        (["status", "we"], Completion((), "jobs")),
        (["status", "web", ""], Completion(())),
        (["uncordon", ""], Completion((), "jobs")),
        (["cancel", ""], Completion((), "executions")),
        (["retry", "x"], Completion((), "executions")),
        # Global flags before the command, with their values, are skipped over.
        (["-n", "team-a", "status", ""], Completion((), "jobs")),
        (["--context=dev", "status", ""], Completion((), "jobs")),
        (["--namespace=team-a", "status", ""], Completion((), "jobs")),
        (["-n", ""], Completion((), "namespaces")),
        (["status", "-n", ""], Completion((), "namespaces")),
        (["status", "web", "-n", "a", ""], Completion(())),
        # Flags and their choices.
        (["status", "--un"], Completion(("--until-paused",))),
        (["executions", "--state", ""], Completion(STATES)),
        (["executions", "--state", "R"], Completion(STATES)),  # the shell filters by prefix
        (["executions", "--job", ""], Completion((), "jobs")),
        (["status", "web", "-o", ""], Completion(("json", "yaml"))),
        (["completion", ""], Completion(("bash", "fish", "zsh"))),
        (["--as", ""], Completion(())),
        (["--tok"], Completion(("--token",))),
    ],
)  # fmt: skip
def test_what_completes_each_word(words: list[str], expected: Completion) -> None:
    assert plan_completions(PARSER, words) == expected


@pytest.mark.parametrize(
    ("words", "namespace", "context", "kubeconfig"),
    [
        (["-n", "team-a", "status", ""], "team-a", None, None),
        (["status", "--namespace=team-b", "--context", "c1", "w"], "team-b", "c1", None),
        (["--kubeconfig", "/k", "status", "-n", ""], None, None, "/k"),  # -n is being completed
        (["status", "--", "-n", "x", ""], None, None, None),  # after --, no flag
    ],
)
def test_names_are_looked_up_where_the_words_say(
    words: list[str], namespace: str | None, context: str | None, kubeconfig: str | None
) -> None:
    scope = build_scope(words)
    assert (scope.namespace, scope.context, scope.kubeconfig) == (namespace, context, kubeconfig)


def test_names_from_an_unreachable_cluster_complete_nothing_and_say_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert complete(PARSER, ["status", ""]) == ":4\n"
    assert complete(PARSER, ["pa"]) == "pause\n:4\n"


def shell_env() -> dict[str, str]:
    """PATH with this venv's kubectl-nodewave first, and no cluster."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "KUBECONFIG": "/nonexistent"}  # fmt: skip


def run_shell(argv: list[str], script: str) -> str:
    done = subprocess.run([*argv, script], env=shell_env(), capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bash_completes_with_the_printed_script() -> None:
    def complete_line(line: str) -> str:
        return (f"COMP_LINE='{line}'; COMP_POINT={len(line)}\n"
                "_kubectl_nodewave; printf '%s\\n' \"${COMPREPLY[@]}\"\n")  # fmt: skip

    script = (
        SCRIPTS["bash"]
        + complete_line("kubectl-nodewave executions --state Fa")
        + complete_line("kubectl-nodewave st")
        + complete_line("kubectl-nodewave --namespace=team-a status -o ")
        + "complete -p kubectl-nodewave\n"
    )
    out = run_shell(["bash", "-c"], script).splitlines()
    # bash filters by prefix itself when its completion functions are loaded; the script
    # hands over what the plugin offered.
    assert "Failed" in out
    assert {"status", "stats"} <= set(out)
    assert {"json", "yaml"} <= set(out), "a flag=value word is one word"
    assert out[-1] == "complete -F _kubectl_nodewave kubectl-nodewave"


def test_zsh_completes_with_the_printed_script() -> None:
    # compdef and compadd exist inside zsh's completion system only: stand-ins that show
    # what the script registers and offers.
    script = (
        'compdef() { print -r -- "compdef $*" }\n'
        'compadd() { print -rl -- "$@" }\n'
        + SCRIPTS["zsh"]
        + "words=(kubectl-nodewave status -o ''); CURRENT=4\n_kubectl_nodewave\n"
    )
    out = run_shell(["zsh", "-f", "-c"], script).splitlines()
    assert out == ["compdef _kubectl_nodewave kubectl-nodewave", "--", "json", "yaml"]


def test_fish_completes_with_the_printed_script() -> None:
    out = run_shell(["fish", "--no-config", "-c"],
                    SCRIPTS["fish"] + "\ncomplete -C 'kubectl-nodewave comp'\n")  # fmt: skip
    assert out.split() == ["completion"]


def test_kubectls_completion_helper_answers_in_cobras_format() -> None:
    """kubectl runs kubectl_complete-nodewave with the words after `kubectl nodewave`."""
    helper = Path(sys.executable).parent / "kubectl_complete-nodewave"
    done = subprocess.run([str(helper), "pau"], env=shell_env(), capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout == "pause\n:4\n"
    assert done.stderr == ""

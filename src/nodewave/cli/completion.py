"""Shell completion for `kubectl nodewave` and `kubectl-nodewave`: commands, flags, a flag's
choices, and the names of Jobs and executions asked of the cluster.

Two ways in, one answer (`plan_completions`):
- kubectl (1.26+) completes a plugin's arguments by running `kubectl_complete-nodewave` (a
  console script of this package, cli/plugin.py's `complete_main`) with the words after `kubectl nodewave`, the last being the
  one typed so far, and reads cobra's format: one candidate per line, then `:<directive>`.
- `kubectl nodewave completion bash|zsh|fish` prints a script for the standalone command,
  which calls `kubectl-nodewave __complete` the same way.

Nothing is printed on stderr and nothing fails: a cluster that cannot be reached completes no
names (the shell offers nothing), never an error in the middle of a command line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass

NO_FILE_COMPLETION = 4
"""cobra's ShellCompDirectiveNoFileComp: offer no file names when nothing matched."""
NAME_KINDS = {"job": "jobs", "execution": "executions", "namespace": "namespaces"}
"""An argument's dest → the resource whose names complete it."""


@dataclass(frozen=True)
class Completion:
    candidates: tuple[str, ...]
    names_of: str | None = None
    """The resource (jobs, executions, namespaces) whose names also complete the word."""


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {n: p for n, p in action.choices.items() if not n.startswith("__")}
    return {}


def _takes_value(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    """The option `flag` names when it takes a value, else None."""
    action = parser._option_string_actions.get(flag)
    return action if action is not None and action.nargs != 0 else None


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        f
        for a in parser._actions
        if a.help != argparse.SUPPRESS
        for f in a.option_strings
        if f.startswith("--") or len(a.option_strings) == 1
    )


def _value_completion(action: argparse.Action) -> Completion:
    if action.choices is not None:
        return Completion(tuple(str(c) for c in action.choices))
    return Completion((), NAME_KINDS.get(action.dest))


def plan_completions(parser: argparse.ArgumentParser, words: Sequence[str]) -> Completion:
    """What completes the last of `words` (the arguments after `kubectl nodewave`)."""
    *before, current = list(words) or [""]
    commands = _commands(parser)
    command: str | None = None
    positionals: list[str] = []
    i = 0
    while i < len(before):
        word = before[i]
        active = commands.get(command or "", parser)
        if word.startswith("-"):
            i += 2 if _takes_value(active, word) and "=" not in word else 1
            continue
        if command is None and word in commands:
            command = word
        elif command is not None:
            positionals.append(word)
        i += 1
    active = commands.get(command or "", parser)
    flag = _takes_value(active, before[-1]) if before else None
    if flag is not None:
        return _value_completion(flag)
    if current.startswith("-"):
        return Completion(tuple(f for f in _flags(active) if f.startswith(current)))
    if command is None:
        return Completion(tuple(c for c in commands if c.startswith(current)))
    slots = [a for a in active._actions if not a.option_strings]
    if len(positionals) < len(slots):
        return _value_completion(slots[len(positionals)])
    return Completion(())


async def _names(resource: str, options: argparse.Namespace) -> list[str]:
    """The names of `resource` in the namespace the command line names (or the context's), or
    none when the cluster cannot tell."""
    from nodewave.kube.auth import load_credentials
    from nodewave.kube.client import Kube, path_of

    try:
        credentials = load_credentials(options.kubeconfig, options.context)
        namespace = None if resource == "namespaces" else options.namespace or credentials.namespace
        kube = Kube(credentials, 2, timeout=5.0)
        try:
            found = await kube.request("GET", path_of(resource, namespace), query={"limit": "500"})
        finally:
            await kube.close()
    except Exception:  # no cluster, no rights, a timeout: nothing to offer
        return []
    return sorted(item["metadata"]["name"] for item in found.get("items") or [])


def collect_repeated(words: Sequence[str], flag: str) -> list[str]:
    """Every value of a flag, before and after the command, up to `--` (argparse keeps only
    the subcommand's once a repeatable flag appears on both sides); one reader for the plugin's
    arguments and the completion's."""
    values = []
    for i, word in enumerate(words):
        if word == "--":
            break
        if word == flag and i + 1 < len(words):
            values.append(words[i + 1])
        elif word.startswith(flag + "="):
            values.append(word.split("=", 1)[1])
    return values


def build_scope(words: Sequence[str]) -> argparse.Namespace:
    """The namespace, kubeconfig and context that the words before the last one name, where
    the names to complete are looked up: given before or after the command."""
    scope = argparse.ArgumentParser(add_help=False)
    for flags in (("-n", "--namespace"), ("--kubeconfig",), ("--context",)):
        scope.add_argument(*flags)
    given = [
        word
        for flag in ("-n", "--namespace", "--kubeconfig", "--context")
        for value in collect_repeated(words[:-1], flag)
        for word in (flag, value)
    ]
    return scope.parse_known_args(given)[0]


def complete(parser: argparse.ArgumentParser, words: Sequence[str]) -> str:
    """cobra's answer: the candidates, a line each, then the directive."""
    plan = plan_completions(parser, words)
    found = list(plan.candidates)
    if plan.names_of is not None:
        options = build_scope(words)
        current = (list(words) or [""])[-1]
        names = asyncio.run(_names(plan.names_of, options))
        found += [n for n in names if n.startswith(current)]
    return "".join(f"{c}\n" for c in found) + f":{NO_FILE_COMPLETION}\n"


SCRIPTS = {
    "bash": """# kubectl-nodewave completion for bash: source <(kubectl-nodewave completion bash)
# The words are taken from the line itself: bash's own split cuts --namespace=x at the =.
_kubectl_nodewave() {
  local line="${COMP_LINE:0:COMP_POINT}" out
  local -a words
  read -r -a words <<<"$line"
  [[ "$line" == *[[:space:]] ]] && words+=("")
  out=$(kubectl-nodewave __complete "${words[@]:1}" 2>/dev/null) || return
  local IFS=$'\n'
  COMPREPLY=($(printf '%s\n' "$out" | grep -v '^:'))
}
complete -F _kubectl_nodewave kubectl-nodewave
""",
    "zsh": """#compdef kubectl-nodewave
# kubectl-nodewave completion for zsh: source <(kubectl-nodewave completion zsh)
_kubectl_nodewave() {
  local -a out
  out=("${(@f)$(kubectl-nodewave __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -- "${(@)out:#:*}"
}
compdef _kubectl_nodewave kubectl-nodewave
""",
    "fish": """# kubectl-nodewave completion for fish: kubectl-nodewave completion fish | source
function __kubectl_nodewave_complete
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    kubectl-nodewave __complete $words 2>/dev/null | string match -v -r '^:'
end
complete -c kubectl-nodewave -f -a '(__kubectl_nodewave_complete)'
""",
}


def answer(parser: argparse.ArgumentParser, words: Sequence[str]) -> int:
    """Print the completions of `words` (cli/plugin.py's `complete_main` and `__complete`)."""
    sys.stdout.write(complete(parser, words))
    return 0

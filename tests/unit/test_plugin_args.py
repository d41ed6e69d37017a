"""The plugin's command line (cli/plugin.py): kubectl's flags read as kubectl reads them."""

from __future__ import annotations

import pytest

from nodewave.cli.completion import collect_repeated


@pytest.mark.parametrize(
    ("words", "groups"),
    [
        (["--as-group", "a", "status", "j", "--as-group", "b"], ["a", "b"]),
        (["status", "j", "--as-group=a"], ["a"]),
        (["status", "j", "--", "--as-group", "x"], []),
        (["status", "j"], []),
    ],
)
def test_a_repeated_flag_keeps_every_value_wherever_it_was_given(
    words: list[str], groups: list[str]
) -> None:
    assert collect_repeated(words, "--as-group") == groups

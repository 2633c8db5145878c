"""The ``payments`` command's parser (``cli``): every command is described and explains its
arguments. What the command does as a process is in ``tests/test_cli.py``."""

from __future__ import annotations

import argparse

import pytest
from payments_platform.cli import parser


def _parsers(
    command: argparse.ArgumentParser,
) -> list[argparse.ArgumentParser]:
    found = [command]
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


@pytest.mark.parametrize("command", _parsers(parser()), ids=lambda p: p.prog)
def test_every_command_is_described_and_explains_its_arguments(
    command: argparse.ArgumentParser,
) -> None:
    assert command.description, command.prog
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(choice.help for choice in action._get_subactions()), command.prog
        else:
            assert action.help not in (None, "", argparse.SUPPRESS), (command.prog, action.dest)

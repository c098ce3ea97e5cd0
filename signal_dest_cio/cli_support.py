"""What every `signal-cio` command shares: exit statuses, `--help` showing defaults,
`--version`, and how an input event's place is named (FILE:LINE).

Exit statuses of `preview` and `test-event` (one set, so scripts can branch on them):

- 0: every event is fine: ready or delivered, or filtered on purpose (consent, a rule);
- 1: some events were rejected (or, for test-event, not delivered), others were fine;
- 2: a bad command line, config or input file: nothing was tried;
- 3: every event was rejected or failed (nothing would go, or went, to Customer.io).

No events at all is 0: there was nothing to refuse.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from importlib import metadata

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_ALL_FAILED = 3
DISTRIBUTION = "signal-dest-cio"


def exit_for(fine: Iterable[bool]) -> int:
    """The exit status for events that each went fine or not."""
    seen = list(fine)
    if all(seen):
        return EXIT_OK
    return EXIT_ALL_FAILED if not any(seen) else EXIT_SOME_FAILED


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` names each option's default, unless there is none to name (None, a flag
    that is off) or the help text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """DefaultsShown on the parser and every subcommand under it, however deep."""
    parser.formatter_class = DefaultsShown
    for action in parser._actions:  # argparse offers no public walk over subparsers
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                show_defaults(child)


def non_empty(text: str) -> str:
    """An argparse type: refuse "" and blanks (`--user-id ""` would mean nobody)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def where(source: str, position: str) -> str:
    """An input event's place as editors and compilers name it: `events.jsonl:4`, or
    `events.json item 2` inside one JSON array; stdin keeps `line 4`."""
    if source == "-":
        return position
    kind, _, number = position.partition(" ")
    return f"{source}:{number}" if kind == "line" else f"{source} {position}"

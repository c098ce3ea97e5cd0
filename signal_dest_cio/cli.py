"""The `signal-cio` command (SPEC section 7).

`signal-cio preview --config CONFIG.json [--api v1|v2] [FILE|-]` prints, per
input event and in order, one JSON line: what the event becomes, no credentials.
Exit status: 0 when the input was read (whatever the events' outcomes), 2 for a
bad command line or config.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TextIO

import structlog
from pydantic import ValidationError

from .config import CustomerIoConfig
from .destination import CustomerIoDestination, validate_config
from .logging import redact_secrets

PROG = "signal-cio"
EXIT_OK = 0
EXIT_USAGE = 2


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the field."""


def configure_logging(stream: TextIO | None = None) -> None:
    """The CLI's own structlog setup (the library never configures structlog)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def load_config(path: str) -> CustomerIoConfig:
    """Read and validate a config file; errors name fields, never secret values."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}") from None
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"config {path} is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a JSON object of settings")
    try:
        return validate_config(raw)
    except ValidationError as error:
        problems = "\n".join(f"  {_describe(detail)}" for detail in error.errors())
        raise ConfigError(f"invalid config {path}:\n{problems}") from None


def _describe(detail: Any) -> str:
    """One validation problem as `field: what is wrong`, without the offending input."""
    field = ".".join(str(part) for part in detail["loc"]) or "(config)"
    if detail["type"] == "extra_forbidden":
        return f"{field}: unknown setting (not a Customer.io destination config key)"
    if detail["type"] == "missing":
        return f"{field}: required"
    return f"{field}: {detail['msg']}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def read_events(stream: TextIO) -> Iterator[tuple[str, Any, str | None]]:
    """(position, decoded JSON, why it is not JSON) per input event, in order.

    One JSON array (or a single JSON object) is read whole; anything else is JSON
    Lines, where blank lines are skipped and a malformed line does not stop the rest.
    """
    text = stream.read()
    if text.lstrip().startswith(("[", "{")):
        try:
            whole = _loads(text)
        except ValueError:
            pass  # not one JSON document: read it as JSON Lines
        else:
            items = whole if isinstance(whole, list) else [whole]
            for number, item in enumerate(items, 1):
                yield f"item {number}", item, None
            return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", _loads(line), None
        except json.JSONDecodeError as error:
            yield f"line {number}", None, f"{error.msg} (column {error.colno})"
        except ValueError as error:
            yield f"line {number}", None, str(error)


def _malformed(position: str, reason: str) -> dict[str, Any]:
    return {
        "message_id": None,
        "outcome": "rejected",
        "code": "malformed_json",
        "message": f"{position}: not JSON: {reason}",
        "warnings": [],
        "requests": [],
    }


def _open_input(name: str) -> AbstractContextManager[TextIO]:
    if name == "-":
        return nullcontext(sys.stdin)  # read it, but leave it open
    return open(name, encoding="utf-8")


def preview(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_USAGE
    destination = CustomerIoDestination(config)
    try:
        source = _open_input(args.file)
    except OSError as error:
        print(f"{PROG}: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    with source as stream:
        for position, event, not_json in read_events(stream):
            if not_json is not None:
                record = _malformed(position, not_json)
            else:
                record = destination.preview(event, args.api).as_json()
                if record["outcome"] == "rejected":
                    record["message"] = f"{position}: {record['message']}"
            print(json.dumps(record, ensure_ascii=False), flush=True)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Customer.io destination for Signal-style CDP hosts."
    )
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    show = commands.add_parser(
        "preview",
        help="show the Customer.io requests events become, without sending anything",
        description="Read events (JSON Lines or one JSON array) and print one JSON line "
        "per event: its outcome and the requests it becomes. Nothing is sent.",
    )
    show.add_argument("--config", required=True, metavar="CONFIG.json", help="destination config")
    show.add_argument(
        "--api", choices=("v1", "v2"), default=None, help="Track API version (default: config's)"
    )
    show.add_argument("file", nargs="?", default="-", metavar="FILE", help="events; - is stdin")
    show.set_defaults(run=preview)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not structlog.is_configured():
        configure_logging()
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The `signal-cio` command (SPEC section 7).

`signal-cio preview --config CONFIG.json [--api v1|v2] [FILE|-]` prints, per
input event and in order, one JSON line: what the event becomes, no credentials.
Exit status (preview and test-event, cli_support.py): 0 every event fine (ready,
delivered, or filtered on purpose), 1 some rejected, 2 a bad command line, config
or input file, 3 every event rejected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TextIO

import structlog
from pydantic import ValidationError

from .admin_cli import add_admin_commands
from .app_cli import add_app_commands
from .check_cli import add_check_command
from .cli_support import EXIT_USAGE, exit_for, non_empty, show_defaults, version, where
from .config import CustomerIoConfig
from .destination import CustomerIoDestination, validate_config
from .harness import SAMPLE_TYPES
from .logging import redact_secrets

PROG = "signal-cio"


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
    fine: list[bool] = []
    with source as stream:
        for position, event, not_json in read_events(stream):
            if not_json is not None:
                record = _malformed(position, not_json)
            else:
                record = destination.preview(event, args.api).as_json()
                if record["outcome"] == "rejected":
                    record["message"] = f"{position}: {record['message']}"
            print(json.dumps(record, ensure_ascii=False), flush=True)
            fine.append(record["outcome"] != "rejected")
    return exit_for(fine)


def test_event(args: argparse.Namespace) -> int:
    """Deliver sample or file events one by one; print requests, statuses, outcomes, person."""
    import asyncio

    from .harness import run_test_events, sample_event

    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.file:
        try:
            with _open_input(args.file) as stream:
                read = list(read_events(stream))
        except OSError as error:
            print(f"{PROG}: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
            return EXIT_USAGE
        events = [event if not_json is None else "" for _, event, not_json in read]
        places = [(where(args.file, position), not_json) for position, _, not_json in read]
    else:
        events = [sample_event(args.type, args.user_id)]
        places = [("sample", None)]
    fine: list[bool] = []
    for result, (place, not_json) in zip(
        asyncio.run(run_test_events(config, events)), places, strict=True
    ):
        record = result.as_json()
        outcome = record["outcome"]
        if not_json is not None:  # named where it is: FILE:LINE, and why it is not JSON
            outcome["message"] = f"{place}: not JSON: {not_json}"
        elif outcome.get("kind") not in ("delivered", "filtered") and args.file:
            outcome["message"] = f"{place}: {outcome.get('message', '')}"
        print(json.dumps(record, ensure_ascii=False), flush=True)
        fine.append(outcome.get("kind") in ("delivered", "filtered"))
    return exit_for(fine)


def demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    # The demo prints its own report; delivery log lines would only drown it.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    return run_demo(getattr(args, "api", None) or "v2")


def serve(args: argparse.Namespace) -> int:
    """Run the reference host (needs the `host` extra); imported only when asked for."""
    from .host.serve import serve as run_host

    return run_host(args)


def rotate_key(args: argparse.Namespace) -> int:
    from .host.serve import rotate_key as rotate

    return rotate(args)


def emulator(args: argparse.Namespace) -> int:
    """Run the local Customer.io emulator (needs the `host` extra); imported only when asked for."""
    from .emulator.command import run_command

    return run_command(args, PROG)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Customer.io destination for Signal-style CDP hosts."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
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

    send = commands.add_parser(
        "test-event",
        help="deliver test events and show the requests, statuses and outcomes",
        description="Deliver a sample event (or each event of a file) through the destination, "
        "one at a time, and print per event one JSON line: the requests sent (no credentials), "
        "their statuses, the outcome, and the person as the local emulator now holds it.",
    )
    send.add_argument("--config", required=True, metavar="CONFIG.json", help="destination config")
    send.add_argument("--type", choices=SAMPLE_TYPES, default="track", help="sample event type")
    send.add_argument(
        "--user-id", default="test-user-1", type=non_empty, help="userId of the sample event"
    )
    send.add_argument(
        "--file", metavar="EVENTS", help="events to send instead (JSON Lines or array)"
    )
    send.set_defaults(run=test_event)

    show_demo = commands.add_parser(
        "demo",
        help="run the fixture events through the destination into a local emulator",
        description="Start the local Customer.io emulator, send the shipped fixture events "
        "through the destination and print a summary. Needs no network and no arguments.",
    )
    show_demo.add_argument(
        "--api", choices=("v2", "v1", "pipelines"), default="v2", help="api mode (default v2)"
    )
    show_demo.set_defaults(run=demo)

    host = commands.add_parser(
        "serve",
        help="run the reference host: install API, signed ingestion, delivery, /live",
        description="Serve the reference Signal host with uvicorn. The admin token comes from "
        "SIGNAL_ADMIN_TOKEN and the event signing secret from SIGNAL_SIGNING_SECRET; "
        "either one missing is generated and printed once. Retry budgets default to the "
        "README's.",
    )
    host.add_argument("--host", default="127.0.0.1", help="address to listen on")
    host.add_argument("--port", type=int, default=8084, help="port to listen on")
    host.add_argument(
        "--db",
        default="signal-host.db",
        help="SQLite file (:memory: keeps nothing), or postgresql://... for several processes",
    )
    host.add_argument(
        "--lease-seconds",
        type=float,
        metavar="SECONDS",
        help="PostgreSQL: how long a worker holds an integration unrenewed, so how soon a "
        "dead worker's work moves on (30)",
    )
    host.add_argument("--batch-size", type=int, help="events per delivery call (default 100)")
    host.add_argument("--max-attempts", type=int, help="tries before dead-lettering (60)")
    host.add_argument(
        "--max-age",
        type=float,
        metavar="SECONDS",
        help="time spent waiting for retries before dead-lettering (86400)",
    )
    host.add_argument("--base-delay", type=float, metavar="SECONDS", help="first backoff (1)")
    host.add_argument("--max-delay", type=float, metavar="SECONDS", help="backoff cap (3600)")
    host.add_argument(
        "--allow-override-host",
        action="append",
        metavar="HOST",
        help="let configs point track/app_api_base_url at this internal host (repeatable)",
    )
    host.set_defaults(run=serve)

    rotate = commands.add_parser(
        "rotate-key",
        help="re-seal the host's stored configs under a new key (the host stopped)",
        description="Open every stored config with the current key (SIGNAL_SECRET_KEY, else "
        "the key file beside the database) and seal it again with SIGNAL_NEW_SECRET_KEY "
        "(else a fresh key), in one transaction.",
    )
    rotate.add_argument(
        "--db", default="signal-host.db", help="the host's SQLite file or postgresql:// URL"
    )
    rotate.set_defaults(run=rotate_key)

    add_app_commands(commands)
    add_check_command(commands)
    add_admin_commands(commands)

    emulate = commands.add_parser(
        "emulator",
        help="run the local Customer.io Track API emulator (US and EU) until Ctrl-C",
        description="Serve Customer.io's Track API (v1, v2, region lookup) and the App API key "
        "check for both regions on loopback, with an inspection API under /_emulator/.",
    )
    emulate.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    emulate.add_argument("--us-port", type=int, default=8010, help="US region port")
    emulate.add_argument("--eu-port", type=int, default=8011, help="EU region port")
    emulate.add_argument(
        "--workspaces",
        metavar="FILE.json",
        help="workspaces to serve: {site_id, track_api_key, app_api_key, region} objects "
        "(a destination config works too); default: the demo workspaces",
    )
    emulate.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a certificate made at start; its CA file path is printed, "
        "for the official customerio client and other https-only tools",
    )
    emulate.add_argument(
        "--tls-dir",
        metavar="DIR",
        help="with --tls: keep the CA and certificate in DIR (reused while valid) instead "
        "of a temporary directory",
    )
    emulate.set_defaults(run=emulator)
    show_defaults(parser)  # every command's --help names its defaults
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not structlog.is_configured():
        configure_logging()
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`signal-cio customer get` and `signal-cio send-email`: the App API actions (SPEC 10).

Each prints one JSON line, `{"outcome": {...}, "body": {...}}` (Customer.io's answer,
never a key), and exits 0 when the outcome is `delivered`, 1 when it is not, 2 for a
bad command line, config or message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .app_api import AppResult

EXIT_OK, EXIT_NOT_DELIVERED, EXIT_USAGE = 0, 1, 2


def add_app_commands(commands: Any) -> None:
    customer = commands.add_parser(
        "customer",
        help="read a person back from Customer.io's App API",
        description="App API actions on people.",
    )
    actions = customer.add_subparsers(dest="action", required=True)
    get = actions.add_parser(
        "get", help="print a person's attributes, devices and identifiers (App API)"
    )
    get.add_argument("--config", required=True, metavar="CONFIG.json", help="destination config")
    get.add_argument("--id-type", choices=("id", "email", "cio_id"), default="id")
    get.add_argument("identifier", help="the person's id, email or cio_id")
    get.set_defaults(run=customer_get)

    send = commands.add_parser(
        "send-email",
        help="send a transactional email by template (App API)",
        description="POST /v1/send/email: --message FILE (the whole request) or the flags.",
    )
    send.add_argument("--config", required=True, metavar="CONFIG.json", help="destination config")
    send.add_argument("--message", metavar="FILE", help="the request as JSON; - is stdin")
    send.add_argument("--template", help="transactional_message_id (a number or trigger name)")
    send.add_argument("--to", help="the address to send to")
    who = send.add_mutually_exclusive_group()
    who.add_argument("--id", help="the person, by id")
    who.add_argument("--email", help="the person, by email")
    who.add_argument("--cio-id", help="the person, by cio_id")
    send.add_argument("--data", default="{}", help="message_data as a JSON object")
    send.set_defaults(run=send_email)


def _destination(path: str) -> Any:
    from .cli import load_config
    from .destination import CustomerIoDestination

    return CustomerIoDestination(load_config(path))


def _print(result: AppResult) -> int:
    print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False), flush=True)
    return EXIT_OK if result.outcome.kind == "delivered" else EXIT_NOT_DELIVERED


def customer_get(args: argparse.Namespace) -> int:
    from .cli import ConfigError

    try:
        destination = _destination(args.config)
    except ConfigError as error:
        print(f"signal-cio customer get: {error}", file=sys.stderr)
        return EXIT_USAGE

    async def run() -> AppResult:
        async with destination:
            result: AppResult = await destination.customer_attributes(args.identifier, args.id_type)
            return result

    return _print(asyncio.run(run()))


def _message(args: argparse.Namespace) -> dict[str, Any]:
    if args.message:
        if args.message == "-":
            text = sys.stdin.read()
        else:
            text = Path(args.message).read_text(encoding="utf-8")
        message: dict[str, Any] = json.loads(text)
        return message
    identifiers = {
        key: value
        for key, value in (("id", args.id), ("email", args.email), ("cio_id", args.cio_id))
        if value
    }
    template: Any = args.template
    if isinstance(template, str) and template.isdigit():
        template = int(template)
    return {
        "transactional_message_id": template,
        "to": args.to or args.email,
        "identifiers": identifiers,
        "message_data": json.loads(args.data),
    }


def send_email(args: argparse.Namespace) -> int:
    from .cli import ConfigError

    try:
        destination = _destination(args.config)
        message = _message(args)
    except ConfigError as error:
        print(f"signal-cio send-email: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError) as error:
        print(f"signal-cio send-email: the message is not usable JSON: {error}", file=sys.stderr)
        return EXIT_USAGE

    async def run() -> AppResult:
        async with destination:
            result: AppResult = await destination.send_email(message)
            return result

    try:
        return _print(asyncio.run(run()))
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) or e["msg"] for e in error.errors())
        print(f"signal-cio send-email: invalid message: {fields}", file=sys.stderr)
        return EXIT_USAGE

"""`signal-cio admin ...`: the reference host's admin API from the command line.

`--url` (default `SIGNAL_HOST_URL`, else the `serve` default http://127.0.0.1:8084)
and the admin token from `SIGNAL_ADMIN_TOKEN` (or `--token`). Tables by default,
`--json` for the host's answer as JSON on stdout. Exit status:

- 0: done;
- 1: the host refused (validation, not found, a conflict such as a duplicate
  install), a test event was not delivered, or a replay named ids it did not find;
- 2: a bad command line or an unreadable file (nothing was sent);
- 3: the host could not be reached, failed (5xx), or refused the token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from .admin_client import DEFAULT_URL, AdminClient, AdminError, ApiRefused

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
TOKEN_ENV = "SIGNAL_ADMIN_TOKEN"
URL_ENV = "SIGNAL_HOST_URL"
DELIVERY_STATUSES = ("pending", "delivered", "filtered", "dead_lettered")
SAMPLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


class UsageError(Exception):
    """A command line or file that cannot be used: nothing is sent."""


@dataclass
class Shown:
    data: Any
    view: str  # a function of admin_views
    code: int = EXIT_OK


Handler = Callable[[AdminClient, argparse.Namespace], Awaitable[Shown]]


def add_admin_commands(commands: Any) -> None:
    connection = _connection_options(argparse.SUPPRESS)  # also after the action
    admin = commands.add_parser(
        "admin",
        parents=[_connection_options(None)],
        help="operate a running host: catalog, installs, integrations, deliveries, replay",
        description="The host's admin API from the command line. Exit status: 0 done, "
        "1 refused by the host (or a test event not delivered, or unknown replay ids), "
        "2 bad command line, 3 host unreachable, failing or refusing the token.",
    )
    actions = admin.add_subparsers(dest="admin_action", required=True, metavar="ACTION")

    def action(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            name, parents=[connection], help=help_, description=help_
        )
        parser.set_defaults(run=run_admin, handler=handler)
        return parser

    action("catalog", _catalog, "list the catalog: the destinations this host can install")
    install = action("install", _install, "install an integration from the catalog")
    install.add_argument("key", nargs="?", default="customer_io", help="catalog key")
    install.add_argument(
        "--file", metavar="BODY.json", help="the install body of the docs: {name, config, ...}"
    )
    install.add_argument("--name", help="the integration's name (default: the file's)")
    install.add_argument("--variant", help="a catalog variant (default, us, eu, v1, pipelines)")
    install.add_argument("--config", metavar="CONFIG.json", help="the destination config")
    _set_option(install)
    _verify_option(install, "run the connection check first (default; --no-verify skips)", True)
    install.add_argument(
        "--allow-duplicate",
        action="store_true",
        help="install even if one with the same destination and config exists",
    )
    action("list", _list, "list integrations: status, revision, counts, pause reason")
    show = action("show", _show, "show one integration: counts, pause reason, config")
    show.add_argument("id", help="integration id")
    revise = action("revise", _revise, "post a revision: settings overlaid on the current ones")
    revise.add_argument("id", help="integration id")
    revise.add_argument("--config", metavar="CONFIG.json", help="settings to change, as JSON")
    _set_option(revise)
    revise.add_argument("--base", type=int, metavar="N", help="fail if revision N is not current")
    _verify_option(revise, "run the connection check first (default: off)", False)
    for name, help_ in (
        ("enable", "switch an integration on"),
        ("disable", "switch an integration off (its queue waits)"),
        ("resume", "resume a paused integration"),
    ):
        action(name, _switch, help_).add_argument("id", help="integration id")
    listing = action("deliveries", _deliveries, "list deliveries, newest first")
    listing.add_argument("id", help="integration id")
    listing.add_argument("--status", choices=DELIVERY_STATUSES, help="only these")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--all", action="store_true", help="every one (follows the pages)")
    replay = action("replay", _replay, "put dead letters back in the queue")
    replay.add_argument("id", help="integration id")
    replay.add_argument("--delivery-id", type=int, action="append", metavar="N", default=[])
    replay.add_argument("--message-id", action="append", metavar="ID", default=[])
    replay.add_argument("--all", action="store_true", help="every dead letter")
    delete = action("delete", _delete, "delete an integration (its records are kept)")
    delete.add_argument("id", help="integration id")
    delete.add_argument("--yes", action="store_true", help="really delete it")
    test = action("test-event", _test_event, "deliver a test event now and show the requests")
    test.add_argument("id", help="integration id")
    test.add_argument("--type", choices=SAMPLE_TYPES, default="track", help="sample type")
    test.add_argument("--user-id", default="test-user-1", help="the sample's userId")
    test.add_argument("--file", metavar="EVENT.json", help="an event to send instead")


def _connection_options(default: Any) -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--url", default=default, help=f"the host (default ${URL_ENV}, else {DEFAULT_URL})"
    )
    options.add_argument(
        "--token", default=default, help=f"admin token (default ${TOKEN_ENV}; prefer it)"
    )
    options.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if default is argparse.SUPPRESS else False,
        help="print the host's answer as JSON",
    )
    return options


def _set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one setting (VALUE as JSON, else text); repeatable. Keys belong in a file",
    )


def _verify_option(parser: argparse.ArgumentParser, help_: str, default: bool) -> None:
    parser.add_argument(
        "--verify", action=argparse.BooleanOptionalAction, default=default, help=help_
    )


# -- running ----------------------------------------------------------------------------


def run_admin(args: argparse.Namespace) -> int:
    return asyncio.run(admin_command(args))


async def admin_command(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one admin action; what it prints goes to `out`, problems to `err`."""
    out, err = out or sys.stdout, err or sys.stderr
    token = args.token or os.environ.get(TOKEN_ENV)
    url = args.url or os.environ.get(URL_ENV) or DEFAULT_URL
    if not token:
        print(f"signal-cio admin: set {TOKEN_ENV} (or pass --token)", file=err)
        return EXIT_USAGE
    try:
        async with AdminClient(url, token, transport=transport) as client:
            shown: Shown = await args.handler(client, args)
    except UsageError as error:
        print(f"signal-cio admin: {error}", file=err)
        return EXIT_USAGE
    except AdminError as error:
        return _failed(error, args.json, out, err)
    if args.json:
        print(json.dumps(shown.data, indent=2, ensure_ascii=False), file=out)
    else:
        from rich.console import Console

        from . import admin_views

        view: Callable[[Console, Any], None] = getattr(admin_views, shown.view)
        view(Console(file=out, highlight=False, soft_wrap=False), shown.data)
    return shown.code


def _failed(error: AdminError, as_json: bool, out: TextIO, err: TextIO) -> int:
    if as_json and error.body is not None:
        print(json.dumps(error.body, indent=2, ensure_ascii=False), file=out)
    said = f"signal-cio admin: {error.message}"
    if isinstance(error, ApiRefused):
        said = f"signal-cio admin: {error.code} ({error.status}): {error.message}"
        for detail in error.details:
            if isinstance(detail, dict):
                where = detail.get("field") or detail.get("check") or ""
                what = detail.get("message") or detail.get("code") or ""
                said += f"\n  {where}: {what}" if where else f"\n  {what}"
    print(said, file=err)
    # A refused token is like no host at all to a script: nothing can be done there.
    return EXIT_REFUSED if isinstance(error, ApiRefused) else EXIT_UNREACHABLE


# -- reading files and flags -----------------------------------------------------------


def read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise UsageError(f"{what} {path} is not JSON: {error}") from None


def _object(path: str, what: str) -> dict[str, Any]:
    value = read_json(path, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what} {path} must be a JSON object")
    return value


def settings(config_path: str | None, pairs: list[str]) -> dict[str, Any]:
    """A config file's settings, then each --set KEY=VALUE over them."""
    config = _object(config_path, "config") if config_path else {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set wants KEY=VALUE, not {pair.split('=')[0]!r}")
        try:
            config[key.strip()] = json.loads(text)
        except ValueError:
            config[key.strip()] = text
    return config


# -- the actions -------------------------------------------------------------------------


async def _catalog(client: AdminClient, args: argparse.Namespace) -> Shown:
    return Shown(await client.catalog(), "catalog")


async def _install(client: AdminClient, args: argparse.Namespace) -> Shown:
    body = _object(args.file, "install body") if args.file else {}
    if not isinstance(body.get("config") or {}, dict):
        raise UsageError(f"the config in {args.file} must be a JSON object")
    config = {**(body.get("config") or {}), **settings(args.config, args.set)}
    body = {**body, "config": config}
    if args.name:
        body["name"] = args.name
    if args.variant:
        body["variant"] = args.variant
    if not body.get("name"):
        raise UsageError("name the integration: --name, or a body file with a name")
    answer = await client.install(
        args.key, body, verify=args.verify, allow_duplicate=args.allow_duplicate
    )
    return Shown(answer, "integration")


async def _list(client: AdminClient, args: argparse.Namespace) -> Shown:
    return Shown(await client.integrations(), "integrations")


async def _show(client: AdminClient, args: argparse.Namespace) -> Shown:
    return Shown(await client.integration(args.id), "integration")


async def _revise(client: AdminClient, args: argparse.Namespace) -> Shown:
    changes = settings(args.config, args.set)
    if not changes:
        raise UsageError("nothing to change: --config FILE and/or --set KEY=VALUE")
    answer = await client.revise(args.id, changes, base=args.base, verify=args.verify)
    return Shown(answer, "integration")


async def _switch(client: AdminClient, args: argparse.Namespace) -> Shown:
    return Shown(await client.switch(args.id, args.admin_action), "switched")


async def _deliveries(client: AdminClient, args: argparse.Namespace) -> Shown:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    page = await client.deliveries(args.id, status=args.status, limit=args.limit, every=args.all)
    return Shown(page, "deliveries")


async def _replay(client: AdminClient, args: argparse.Namespace) -> Shown:
    named = bool(args.delivery_id or args.message_id)
    if named == args.all:
        raise UsageError("name dead letters (--delivery-id, --message-id) or pass --all")
    answer = await client.replay(args.id, args.delivery_id or None, args.message_id or None)
    unknown = answer.get("unknown") or {}
    missing = bool(unknown.get("delivery_ids") or unknown.get("message_ids"))
    return Shown(answer, "replay", EXIT_REFUSED if missing else EXIT_OK)


async def _delete(client: AdminClient, args: argparse.Namespace) -> Shown:
    if not args.yes:
        raise UsageError(f"deleting {args.id} stops its deliveries: pass --yes to go on")
    return Shown(await client.delete(args.id), "deleted")


async def _test_event(client: AdminClient, args: argparse.Namespace) -> Shown:
    if args.file:
        body: dict[str, Any] = {"event": _object(args.file, "event")}
    else:
        body = {"type": args.type, "user_id": args.user_id}
    delivery = await client.test_event(args.id, body)
    kind = (delivery.get("outcome") or {}).get("kind")
    code = EXIT_OK if kind in ("delivered", "filtered") else EXIT_REFUSED
    return Shown(delivery, "test_event", code)

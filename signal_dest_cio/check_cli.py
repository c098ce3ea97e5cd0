"""`signal-cio check --config C`: the destination's connection check from the command line.

Each credential is checked on its own (check.py): the Track API site ID and key, the
region Customer.io says the workspace is in against the configured one, the App API
key when one is set (the CDP key in pipelines mode). Exit status: 0 every check
passed, 1 a check failed (the report says which, and what to change), 2 a bad command
line or config, 3 Customer.io could not be reached at all. No key is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

import httpx

from .check import CheckReport

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
UNREACHABLE_PREFIX = "could not reach Customer.io"


def add_check_command(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="check a config's credentials and region against Customer.io",
        description="Run the destination's connection check: the Track credentials, the "
        "workspace's real region against the configured one, and the App API key. "
        "Exit status: 0 all passed, 1 a check failed, 2 bad config, 3 unreachable.",
    )
    check.add_argument("--config", required=True, metavar="CONFIG.json", help="destination config")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    return asyncio.run(check_command(args))


async def check_command(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    from .cli import ConfigError, load_config
    from .destination import CustomerIoDestination

    out, err = out or sys.stdout, err or sys.stderr
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"signal-cio check: {error}", file=err)
        return EXIT_USAGE
    destination = CustomerIoDestination(config, transport=transport, app_transport=transport)
    async with destination:
        report = await destination.check()
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2), file=out)
    else:
        _print_report(report, config.region.value, out)
    return exit_code(report)


def exit_code(report: CheckReport) -> int:
    if report.ok:
        return EXIT_OK
    failed = [check for check in report.checks if not check.ok]
    if failed and all(check.message.startswith(UNREACHABLE_PREFIX) for check in failed):
        return EXIT_UNREACHABLE
    return EXIT_FAILED


def _print_report(report: CheckReport, configured: str, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False, soft_wrap=False)
    table = Table(title="Connection check", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("what Customer.io said", overflow="fold")
    for check in report.checks:
        table.add_row(check.name, "ok" if check.ok else "FAILED", check.message)
    console.print(table)
    found = report.region.upper() if report.region else "unknown"
    console.print(f"configured region: {configured.upper()}; the workspace's region: {found}")
    console.print("all checks passed" if report.ok else "some checks failed")

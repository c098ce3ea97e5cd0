"""`signal-cio emulator`: both regions on loopback until Ctrl-C (cli.py imports this lazily)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from .server import EmulatorUrls, run_emulator
from .state import EmulatorState
from .tls import TlsFiles, make_tls_files
from .workspaces import default_state, load_workspaces

DEMO_KEYS = "examples/config.json (US) and examples/config.eu.json (EU)"


def run_command(args: argparse.Namespace, prog: str = "signal-cio") -> int:
    """Exit 0 after Ctrl-C, 2 for a bad --workspaces file or host, 1 when a port is taken.
    With --tls (or --tls-dir), https with a certificate made at start (tls.py)."""
    if args.workspaces:
        try:
            state = EmulatorState(load_workspaces(args.workspaces))
        except (OSError, ValueError) as error:
            print(f"{prog}: cannot use --workspaces {args.workspaces}: {error}", file=sys.stderr)
            return 2
        keys = f"in {args.workspaces}"
    else:
        state = default_state()
        keys = f"the demo keys, as in {DEMO_KEYS}"

    with ExitStack() as stack:
        tls = _tls_files(args, stack)
        return _serve(args, prog, state, keys, tls)


def _tls_files(args: argparse.Namespace, stack: ExitStack) -> TlsFiles | None:
    """--tls: the CA and certificate in --tls-dir (kept), else in a temporary directory
    removed when the emulator stops."""
    if not getattr(args, "tls", False) and not getattr(args, "tls_dir", None):
        return None
    folder = args.tls_dir or stack.enter_context(
        tempfile.TemporaryDirectory(prefix="cio-emulator-tls-")
    )
    return make_tls_files(Path(folder))


def _serve(
    args: argparse.Namespace, prog: str, state: EmulatorState, keys: str, tls: TlsFiles | None
) -> int:
    def announce(urls: EmulatorUrls) -> None:
        print("Customer.io emulator: Track API v1/v2, region lookup, Pipelines, App API")
        print(f"  US  {urls.us}")
        print(f"  EU  {urls.eu}")
        if tls is not None:
            print(f"  TLS CA file: {tls.ca}")
            print(f"    trust it: REQUESTS_CA_BUNDLE={tls.ca} (the official customerio client),")
            print(f"    SSL_CERT_FILE={tls.ca} (httpx and most others), curl --cacert {tls.ca}")
        for workspace in state.workspaces:
            templates = ", ".join(f"{t.id} {t.name}" for t in workspace.transactional_templates)
            print(f"  workspace {workspace.site_id} ({workspace.region.upper()})", end="")
            print(f", templates {templates}" if templates else "")
        print(f"  keys: {keys} (not printed)")
        print(f"  inspect: {urls.us}/_emulator/workspaces/<site_id>/people")
        print("  Ctrl-C stops it.", flush=True)

    try:
        run_emulator(
            state,
            args.host,
            args.us_port,
            args.eu_port,
            ssl_certfile=None if tls is None else str(tls.cert),
            ssl_keyfile=None if tls is None else str(tls.key),
            on_ready=announce,
        )
    except ValueError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{prog}: cannot listen on {args.host}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0

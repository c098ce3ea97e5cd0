"""A local stand-in for Customer.io's Track API (both regions) and its App API key check.

Needs the `host` extra (FastAPI, uvicorn). The destination never imports this
package, and this package never imports the destination's mapper or client.
"""

from .app import create_app
from .faults import Fault
from .records import Workspace
from .server import EmulatorUrls, run_emulator, serve_in_thread
from .state import EmulatorState
from .workspaces import default_state, load_workspaces

__all__ = [
    "EmulatorState",
    "EmulatorUrls",
    "Fault",
    "Workspace",
    "create_app",
    "default_state",
    "load_workspaces",
    "run_emulator",
    "serve_in_thread",
]

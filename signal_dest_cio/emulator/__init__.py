"""A local stand-in for Customer.io (both regions): the Track API, the Data Pipelines API,
the App API (attributes, transactional email) and reporting webhooks out.

Needs the `host` extra (FastAPI, uvicorn). The destination never imports this
package, and this package never imports the destination's mapper or client.
"""

from .app import create_app
from .faults import Fault
from .records import Template, Workspace
from .server import EmulatorUrls, run_emulator, serve_in_thread
from .state import EmulatorState
from .workspaces import default_state, load_workspaces

__all__ = [
    "EmulatorState",
    "EmulatorUrls",
    "Fault",
    "Template",
    "Workspace",
    "create_app",
    "default_state",
    "load_workspaces",
    "run_emulator",
    "serve_in_thread",
]

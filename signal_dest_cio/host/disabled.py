"""What an event becomes for an integration that is disabled when it arrives.

Disabling means "stop sending", as in the CDPs operators know: the event is not
held for later (enabling again never floods Customer.io with what came meanwhile).
But it does not vanish either: the integration gets a delivery record, settled at
once as `filtered` with the code `integration_disabled`, so its deliveries list and
its counts say what happened to every event the host accepted.
"""

from __future__ import annotations

import json

DISABLED_CODE = "integration_disabled"
DISABLED_MESSAGE = "the integration was disabled when this event arrived; it was not sent"


def disabled_columns(now: float) -> tuple[str, str]:
    """The (outcome, history) JSON of such a record."""
    outcome = {"kind": "filtered", "code": DISABLED_CODE, "message": DISABLED_MESSAGE}
    history = [{"at": now, "kind": "filtered", "code": DISABLED_CODE, "message": DISABLED_MESSAGE}]
    return json.dumps(outcome), json.dumps(history)

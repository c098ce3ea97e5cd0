"""Customer.io destination for Signal-style CDP hosts."""

from __future__ import annotations

from .config import CustomerIoConfig, Region
from .destination import CustomerIoDestination, Preview
from .mapping import map_event
from .outcomes import Outcome

__all__ = [
    "CustomerIoConfig",
    "CustomerIoDestination",
    "Outcome",
    "Preview",
    "Region",
    "map_event",
]

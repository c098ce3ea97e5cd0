"""Registers the Customer.io destination with a Signal host (entry point `customer_io`)."""

from __future__ import annotations

from typing import Any

from .destination import CustomerIoDestination
from .hookspecs import hookimpl


@hookimpl
def signal_destinations() -> list[Any]:
    return [CustomerIoDestination]

"""Suite-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

# The host tests' `target` (a fake Customer.io) and `host` (a running host) fixtures.
pytest_plugins = ["host_support"]


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """`signal-cio` commands configure structlog for their process, bound to the stderr of
    the moment; a test that runs one must not leave later tests logging to a closed file."""
    yield
    if structlog.is_configured():
        structlog.reset_defaults()

"""Per-request notes: what the state was asked to do and did not (for the request log).

The middleware opens `collecting()` around each Track request; the state calls
`note()` wherever a call does nothing on purpose (a merge whose primary does
not exist, an identify of an unknown `cio_id`). The notes land in that
request's log record as `"notes": [...]`. A context variable carries the list,
so `state.py` stays free of HTTP, and a call made outside any request (a test
calling the state directly) notes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_notes: ContextVar[list[str] | None] = ContextVar("signal_emulator_notes", default=None)
_label: ContextVar[str] = ContextVar("signal_emulator_note_label", default="")


@contextmanager
def collecting() -> Iterator[list[str]]:
    """Collect the notes of everything done inside; yields the (growing) list."""
    found: list[str] = []
    token = _notes.set(found)
    try:
        yield found
    finally:
        _notes.reset(token)


@contextmanager
def about(label: str) -> Iterator[None]:
    """Prefix notes made inside with `label: ` (a v2 batch names the item, `batch[3]`)."""
    token = _label.set(f"{label}: ")
    try:
        yield
    finally:
        _label.reset(token)


def note(message: str) -> None:
    found = _notes.get()
    if found is not None:
        found.append(_label.get() + message)

"""The input of ``ledger check`` and ``ledger stay``: bytes, line by line, one bad line costs one.

The file (or stdin) is read as bytes and split on newlines before anything is decoded, so an
invalid UTF-8 sequence spoils only its own line. Each line then goes through the one JSON-lines
reader (:func:`schemas.jsonlines.read_events`) on its own, so what Python's JSON parser
raises besides syntax errors (100k-deep nesting, a 4,300-digit integer) is also that line's error.
Events must then pass the same edge checks as on Kafka (:func:`streams.edge.check_event`: the
plausible range), and their text must be real Unicode (a JSON ``\\ud800`` escape is not). Every
failure is a :class:`~schemas.jsonlines.LineError`, reported as ``line N: field: reason``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from base.errors import InvalidEventError
from domain.events import Event
from schemas.jsonlines import LineError, read_events
from streams.edge import EdgeLimits, check_event


@contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """``path`` opened for bytes, or stdin's bytes for ``-``; a missing file is a named error."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        source = open(path, "rb")  # noqa: SIM115  # closed below, after the caller is done
    except OSError as e:
        raise InvalidEventError("file", f"{path}: {e.strerror or e}") from e
    with source:
        yield source


def read_input_events(
    lines: Iterable[bytes], on_error: Callable[[LineError], None], limits: EdgeLimits
) -> Iterator[Event]:
    """The valid, acceptable events of byte ``lines`` in order; every other line reported."""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            on_error(LineError(number, "line", f"not UTF-8: {e.reason} at byte {e.start + 1}"))
            continue
        if text.strip():
            yield from _line_events(number, text, on_error, limits)


def _line_events(
    number: int, text: str, on_error: Callable[[LineError], None], limits: EdgeLimits
) -> Iterator[Event]:
    def numbered(error: LineError) -> None:
        on_error(LineError(number, error.field, error.reason))

    try:
        events = list(read_events([text], numbered))
    except RecursionError:
        on_error(LineError(number, "json", "nested too deeply"))
        return
    except ValueError as e:  # e.g. "Exceeds the limit (4300 digits) for integer string ..."
        on_error(LineError(number, "json", str(e)))
        return
    for event in events:
        try:
            check_event(event, limits)
            if "\\u" in text:  # only an escape can smuggle a lone surrogate into decoded text
                _check_unicode(event)
        except InvalidEventError as e:
            on_error(LineError(number, e.field or "event", e.reason))
            continue
        yield event


def _check_unicode(event: Event) -> None:
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        for text in value if isinstance(value, tuple) else (value,):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise InvalidEventError(f.name, f"not Unicode text: {e.reason}") from e

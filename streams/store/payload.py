"""The ``payload`` column of an ``events`` row: an event's JSON form as compact text.

The text is ``json.dumps(event_to_json_dict(event), sort_keys=True, separators=(",", ":"))``
byte for byte: ``ledger verify`` hashes stored rows, so it must never change. It is written
text-first because the sink writes one per stored event; ``tests/unit/test_payload_identity.py``
holds it to the encoder's text over generated events of every type.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _json_text
from typing import Any

from domain.events import Event, format_instant

__all__ = ["payload_json"]

# What json.dumps(..., sort_keys=True, separators=(",", ":")) builds on every call, built once.
_payload_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def payload_json(event: Event) -> str:
    """``event_to_json_dict(event)`` as compact JSON with sorted keys (the ``payload`` column).

    Written text-first, the same text the encoder makes of that dict in about 0.6 of the time
    (it is on the sink's hot path): per event class, the text between values is spelt once
    (:func:`_layout`) and each value is rendered as the encoder renders it
    (``tests/unit/test_payload_identity.py`` holds both ways to the same text).
    """
    layout = _LAYOUTS.get(type(event))
    prefixes, values, tail = layout if layout is not None else _layout(type(event))
    out: list[str] = []
    for prefix, value in zip(prefixes, values(event), strict=True):
        if value is None:  # most optional fields: no call at all
            out.append(prefix + "null")
        elif type(value) is str:
            out.append(prefix + _json_text(value))
        else:
            render = _RENDER.get(type(value))
            text = render(value) if render is not None else _renderer(type(value))(value)
            out.append(prefix + text)
    out.append(tail)
    return "".join(out)


_Layout = tuple[tuple[str, ...], Callable[[Any], Any], str]
_LAYOUTS: dict[type[Any], _Layout] = {}


def _layout(cls: type[Any]) -> _Layout:
    """An event class's payload layout (kept in ``_LAYOUTS``): the text before each field's
    value (keys in sorted order, ``type`` and its value spelt in where they sort), a getter of
    the field values in that order, and the closing text."""
    kind = cls.__name__
    keys = sorted([f.name for f in dataclasses.fields(cls)] + ["type"])
    prefixes: list[str] = []
    names: list[str] = []
    text = "{"
    for i, key in enumerate(keys):
        text += ("," if i else "") + _json_text(key) + ":"
        if key == "type":
            text += _json_text(kind)
        else:
            prefixes.append(text)
            names.append(key)
            text = ""
    layout = _LAYOUTS[cls] = (tuple(prefixes), operator.attrgetter(*names), text + "}")
    return layout


def _renderer(cls: type[Any]) -> Callable[[Any], str]:
    """How ``event_to_json_dict`` and then the encoder turn a value of ``cls`` into JSON text
    (found once per class)."""
    render: Callable[[Any], str]
    if issubclass(cls, StrEnum):
        # str(member) is its value, and the encoder escapes a str subclass by its str value
        render = _json_text
    elif issubclass(cls, datetime):
        render = _instant_text
    elif issubclass(cls, date):
        render = _date_text
    elif issubclass(cls, tuple):
        render = _tuple_text
    else:
        render = _payload_encode
    _RENDER[cls] = render
    return render


def _instant_text(value: datetime) -> str:
    return _json_text(format_instant(value))


def _date_text(value: date) -> str:
    return _json_text(value.isoformat())


def _tuple_text(value: tuple[Any, ...]) -> str:
    return _payload_encode(list(value))


# Renderers by exact class, found once per class (None and str are rendered inline).
_RENDER: dict[type[Any], Callable[[Any], str]] = {}

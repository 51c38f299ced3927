"""Asking a running worker over HTTP (``ledger stay --live``, ``ledger lag --health``).

No Faust import here: the commands that call it stay quick to start.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from base.errors import LedgerError
from base.settings import Settings


class WorkerUnreachableError(LedgerError):
    """The worker's web endpoint did not answer, or answered with an error."""


def worker_json(
    settings: Settings,
    path: str,
    *,
    worker: str | None = None,
    query: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Any:
    """GET ``path`` on ``worker`` (default: the local worker's web port) and decode its JSON."""
    base = worker or f"http://127.0.0.1:{settings.worker_web_port}"
    url = f"{base.rstrip('/')}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        raise WorkerUnreachableError(f"{url}: HTTP {e.code}: {detail}") from e
    except (urllib.error.URLError, OSError) as e:
        raise WorkerUnreachableError(f"{url}: {e} (is `ledger worker` running?)") from e

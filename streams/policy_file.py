"""Reading the policy file: the packaged ``streams/policy/default.json`` or an operator's own.

The domain never reads files; this adapter reads and decodes the JSON and hands the data to
:func:`domain.policy_data.policy_from_mapping`, which validates it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from base.errors import PolicyError
from domain.policy import Policy
from domain.policy_data import policy_from_mapping


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate policy JSON; the packaged default when ``path`` is ``None``."""
    try:
        if path is None:
            text = resources.files("streams").joinpath("policy/default.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
    except OSError as e:
        raise PolicyError(f"policy file: cannot read {path}: {e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PolicyError(f"policy file: invalid JSON: {e}") from e
    return policy_from_mapping(data)

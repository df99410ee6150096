"""Types for config values given on Snakemake's command line (standard library only).

Snakemake reads the nested parts of ``--config KEY=VALUE`` as YAML without types, so
``'seeds=[0,1]'`` gives ``["0", "1"]`` and ``'method_params={kmeans: {n_init: 5}}'`` gives
``{"n_init": "5"}``. A config file gives typed values, which :func:`typed` leaves alone.
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def typed(value: Any) -> Any:
    """``value`` with each string that spells a boolean or a number replaced by it, inside
    dicts and lists too; other strings stay as they are."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    if not isinstance(value, str):
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value

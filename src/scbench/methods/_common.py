"""Helpers shared by method modules (standard library only)."""

from __future__ import annotations

from typing import Any


def resolve_params(method: str, defaults: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``params``; unknown keys are an error naming the valid ones."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) for {method}: {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(defaults)) or 'none (it takes no parameters)'}")
    return {**defaults, **params}

"""Method parameters checked against what each method accepts, before anything runs.

Each method module declares the parameters it accepts as ``DEFAULTS`` (name -> default value),
or ``defaults(preset)`` when several registry rows share it with different presets;
it may also define ``check_params(params)``, which raises ``ValueError`` for values it cannot
take (AttentionAE-sc builds its ``AttentionAEConfig``). The workflow calls :func:`check_params`
for every ``method_params`` entry when it starts, so a typo stops it before any compute is spent.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from . import registry
from ._common import resolve_params

# The JSON/YAML kinds of a default value, and the kinds of value that may replace it.
_KINDS: list[tuple[type | tuple[type, ...], tuple[type, ...], str]] = [
    (bool, (bool,), "a boolean"),
    (int, (int,), "an integer"),
    (float, (int, float), "a number"),
    (str, (str,), "a string"),
    ((list, tuple), (list, tuple), "a list"),
    (dict, (dict,), "a mapping"),
]


def _module(method: str):
    spec = registry.get(method)
    return importlib.import_module(spec.module) if spec.module else None


def accepted_params(method: str) -> dict[str, Any]:
    """The parameters ``method`` accepts, with their defaults (none for a method that is
    registered but not implemented)."""
    module = _module(method)
    if module is None:
        return {}
    if hasattr(module, "defaults"):  # rows sharing a module: the defaults under their preset
        return dict(module.defaults(registry.get(method).preset))
    return dict(module.DEFAULTS)


def _kind_error(name: str, value: Any, default: Any) -> str | None:
    """Why ``value`` cannot replace ``default`` (``None`` if it can). A default of ``None``
    takes any value, and ``None`` replaces any default (the method then decides)."""
    if default is None or value is None:
        return None
    for default_kind, allowed, words in _KINDS:
        if isinstance(default, default_kind):
            if isinstance(value, allowed) and isinstance(value, bool) == (bool in allowed):
                return None
            return f"{name} must be {words} like its default {default!r}, got {value!r}"
    return None


def check_params(method: str, params: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the method and the parameter when ``params`` has a key that
    ``method`` does not accept, a value of another kind than its default, or a value the
    method's own ``check_params`` rejects."""
    if not isinstance(params, Mapping):
        raise ValueError(f"{method}: parameters must be a mapping, got {params!r}")
    defaults = accepted_params(method)
    resolve_params(method, defaults, dict(params))  # unknown names
    own_check = getattr(_module(method), "check_params", None)
    if own_check is None:  # a module with its own check judges the kinds too
        problems = [error for name, value in params.items()
                    if (error := _kind_error(name, value, defaults[name]))]
        if problems:
            raise ValueError(f"{method}: {'; '.join(problems)}")
        return
    try:  # with the row's preset (e.g. the AttentionAE-sc variant), as the run will get it
        own_check({**params, **dict(registry.get(method).preset)})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{method}: {error}") from error

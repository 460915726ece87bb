"""A recorded run's momentum, nesterov and weight_decay, and the short text a listing shows of them.

A gdlab fit run records them as given (``cli``), a lab run its momentum and nesterov (``lab``), a sweep member
its own momentum beside the sweep's nesterov and weight_decay, and every sgd run its rule's (float32) numbers;
a record from before any of them was kept has none (None).
"""

from __future__ import annotations

from typing import Any

from gdlab.core.shortest import shortest_floats

RULE_OPTIONS = ("momentum", "nesterov", "weight_decay")


def rule_options(config: dict[str, Any]) -> dict[str, Any]:
    """{"momentum": 0.5, "nesterov": True, "weight_decay": 0.01}; None for each not recorded."""
    sources = [config.get(key) for key in ("cli", "lab")] + [config, config.get("rule")]
    found = {}
    for name in RULE_OPTIONS:
        values = [s[name] for s in sources if isinstance(s, dict) and s.get(name) is not None]
        found[name] = shortest_floats(values[0]) if values else None
    return found


def momentum_text(momentum: Any, nesterov: Any) -> str:
    """A listing's momentum cell: '0.5', '0.5 nesterov', '0', or '-' where not recorded."""
    if momentum is None:
        return "-"
    return f"{momentum:.4g}" + (" nesterov" if nesterov else "")


def is_default(options: dict[str, Any]) -> bool:
    """No momentum, no Nesterov and no weight decay (or none of them recorded): what a listing leaves out."""
    return not options.get("momentum") and not options.get("nesterov") and not options.get("weight_decay")

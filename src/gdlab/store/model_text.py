"""A recorded run's model in a few words: ``mlp 100,100``, ``mlp 64 tanh``, ``linear``.

gd.fit, gd.sweep and gd.find_learning_rate record a dense stack's ``hidden`` sizes and ``activation`` beside
its name. A record from before keeps them only in the options of gdlab fit or gdlab compare (``cli``, hidden
as ``'100,100'``) or of the lab (``lab``), where they are read from; other records give the name alone.
"""

from __future__ import annotations

from typing import Any

DEFAULT_ACTIVATION = "relu"
"""The activation the text leaves out (that of gd.models.mlp, gdlab fit and the lab)."""


def recorded_model(config: dict[str, Any]) -> tuple[list[int] | None, str | None]:
    """A record's hidden sizes and activation; (None, None) for a model without them or a record that lacks them
    (an activation beside no hidden sizes is none: linear and logistic once carried an unused relu)."""
    if "hidden" in config:
        return config["hidden"], config.get("activation") if config["hidden"] else None
    if config.get("model") != "mlp":
        return None, None
    for options in (config.get("cli"), config.get("lab")):
        if isinstance(options, dict) and "hidden" in options:
            sizes = _sizes(options["hidden"])
            return (None, None) if sizes is None else (sizes, str(options.get("activation", DEFAULT_ACTIVATION)))
    return None, None


def model_text(model: str | None, hidden: list[int] | None, activation: str | None) -> str:
    """'mlp 100,100', with an activation other than relu after the sizes ('mlp 64 tanh'); the name alone
    without sizes ('linear'; an mlp whose record lacks them)."""
    name = model or "-"
    if not hidden:
        return name
    sizes = ",".join(str(size) for size in hidden)
    return f"{name} {sizes}" + (f" {activation}" if activation not in (None, DEFAULT_ACTIVATION) else "")


def recorded_model_text(model: str | None, config: dict[str, Any]) -> str:
    """The model of a record (its name, config: its configuration) in words, as model_text gives them."""
    return model_text(model, *recorded_model(config))


def _sizes(hidden: Any) -> list[int] | None:
    """'100,100' (gdlab fit's --hidden) or [100, 100] (the lab's) as a list; None if it is neither."""
    try:
        return [int(size) for size in (hidden.split(",") if isinstance(hidden, str) else hidden)]
    except (TypeError, ValueError):
        return None

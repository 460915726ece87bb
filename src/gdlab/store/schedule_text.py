"""A recorded run's learning rate and schedule in gdlab fit's words: ``0.05`` and ``cosine after 100 warmup steps``.

A gdlab fit or lab run records its options as given; a library run records its rule's schedule as a kind
(``warmup(cosine(restarts=False))``) beside the schedule's numbers (``[[0.05, 1000.0, 0.0], 100.0, 0.0]``),
from which the same two are read back.
"""

from __future__ import annotations

from typing import Any

from gdlab.core.shortest import shortest_floats
from gdlab.engine.config_record import named_schedule, sgd_options


def schedule_text(schedule: str, warmup_steps: int = 0) -> str:
    """'cosine', or 'cosine after 100 warmup steps' (gdlab fit's --schedule and --warmup-steps)."""
    return schedule + (f" after {warmup_steps} warmup steps" if warmup_steps else "")


def batch_size_as_given(config: dict[str, Any]) -> Any:
    """A run's batch size as gdlab fit takes it: "full" where it is every training sample (the record holds the
    number, 4000, which read as a mini-batch), else as recorded. How it was given ("full", the number, a library
    run's batch_size=None) does not matter: compare's variants call such a size batch GD too."""
    size, n_train = config.get("batch_size"), config.get("n_train")
    return "full" if isinstance(size, int) and size == n_train else size


def rate_and_schedule(config: dict[str, Any]) -> tuple[Any, str | None]:
    """A run's learning rate and schedule as gdlab fit shows them (None: not recorded).

    From the options of a gdlab fit run (``cli``) or a lab run (``lab``); else from the rule: a schedule
    gdlab fit names (``SCHEDULES``, each taking learning_rate first), warmed up or not, gives its first number;
    another (a join, a function) its kind as recorded and no single rate. A sweep member whose schedule
    its sweep labelled otherwise ({"halving": lambda lr: step(lr, ...)}) shows that label and its grid rate.
    """
    cli, lab, rule = config.get("cli"), config.get("lab"), config.get("rule")
    if isinstance(cli, dict):
        given = cli.get("schedule")
        options: dict[str, Any] = given if isinstance(given, dict) else {}
        return cli.get("learning_rate"), _named(options.get("schedule"), options.get("warmup_steps", 0))
    if isinstance(lab, dict):
        return lab.get("learning_rate"), _named(lab.get("schedule"), lab.get("warmup_steps", 0))
    if not isinstance(rule, dict):
        return None, None
    label = config.get("schedule")
    if isinstance(label, str) and label != sgd_options(rule)["schedule"]:  # a sweep's own name for its schedule
        return config.get("learning_rate"), label
    return _from_rule(rule.get("learning_rate"), rule.get("schedule"))


def _from_rule(numbers: Any, kind: Any) -> tuple[Any, str | None]:
    """(rate, schedule) of a rule's schedule numbers and kind (a float32 rate as its shortest text: 0.05, not
    0.05000000074505806); a sweep member's rule holds its rate and label."""
    if not isinstance(kind, str):  # a record from before kinds were kept: its numbers as they are
        return numbers, None
    if isinstance(numbers, (int, float)):  # a sweep member: its rate and its schedule's label
        return numbers, kind
    named = named_schedule(numbers, kind)
    if named is None:
        return None, kind
    name, rate, warmup_steps = named
    return shortest_floats(rate), schedule_text(name, warmup_steps)


def _named(schedule: Any, warmup_steps: Any) -> str | None:
    return schedule_text(schedule, int(warmup_steps or 0)) if isinstance(schedule, str) else None

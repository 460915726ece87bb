"""A named schedule for a run of known length: ``--schedule`` and its options, and sweep grids."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

from gdlab.core import schedules as s
from gdlab.core.checks import check_choice, check_int_range
from gdlab.core.schedule_combinators import warmup

T = TypeVar("T", int, float)


@dataclass(frozen=True)
class ScheduleOptions:
    """The schedule flags as given; None means 'derive from the run's length'."""

    schedule: str = "constant"
    warmup_steps: int = 0
    decay_steps: int | None = None
    decay_rate: float | None = None
    end_value: float = 0.0
    power: float = 1.0
    factor: float = 0.1
    step_size_steps: int | None = None
    milestones_steps: str | None = None
    scale_steps: int | None = None
    max_learning_rate: float | None = None
    half_cycle_steps: int | None = None
    restarts: bool = False
    pct_start: float = 0.3

    def check(self) -> None:
        """Check what can be checked before the run's length is known."""
        check_choice("schedule", self.schedule, s.SCHEDULES)
        check_int_range("warmup_steps", self.warmup_steps, 0)

    def check_all_used(self) -> None:
        """Refuse an option set away from its default that the schedule does not read (it would be ignored)."""
        self.check()
        for name, default in vars(ScheduleOptions()).items():
            value = getattr(self, name)
            if name not in ("schedule", "warmup_steps", *USES[self.schedule]) and value != default:
                users = "{" + ", ".join(sorted(repr(k) for k, uses in USES.items() if name in uses)) + "}"
                raise ValueError(f"{name} applies only to schedules {users}; got {name}={value!r} with "
                                 f"schedule {self.schedule!r}.")


USES: dict[str, tuple[str, ...]] = {
    "constant": (),
    "step": ("step_size_steps", "factor"),
    "multistep": ("milestones_steps", "factor"),
    "exponential": ("decay_rate", "decay_steps"),
    "inverse_time": ("decay_rate", "decay_steps"),
    "power": ("power", "scale_steps"),
    "polynomial": ("end_value", "power", "decay_steps"),
    "cosine": ("decay_steps", "end_value", "restarts"),
    "cyclic": ("max_learning_rate", "half_cycle_steps"),
    "one_cycle": ("pct_start",),
}
"""The options each schedule reads besides schedule and warmup_steps (as _schedule builds it)."""


def build_schedule(learning_rate: float, o: ScheduleOptions, total_steps: int) -> s.Schedule:
    """The schedule o names, over total_steps updates, with a linear warmup of o.warmup_steps first.

    Defaults scale with the run: decays span the updates after the warmup
    (exponential falls 100x, inverse_time and power 11x), step decays at thirds,
    multistep at 1/2 and 3/4, cyclic runs 4 cycles up to 10x the rate.
    """
    return build_schedules([learning_rate], o, total_steps)[0]


def build_schedules(learning_rates: list[float], o: ScheduleOptions, total_steps: int) -> list[s.Schedule]:
    """build_schedule for each learning rate of a sweep grid, the options checked once."""
    o.check()
    if o.warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps must be less than the run's {total_steps} updates "
            f"(epochs x updates per epoch); got {o.warmup_steps}."
        )
    span = total_steps - o.warmup_steps
    if o.schedule == "one_cycle" and not o.pct_start * span > 1.0:
        need = one_cycle_min_updates(o.pct_start)
        raise ValueError(
            f"schedule 'one_cycle' needs a rise longer than one update: at pct_start {o.pct_start:g}, at least "
            f"{need} updates after warmup_steps ({o.warmup_steps}); the run has {span} (epochs x updates per "
            "epoch less warmup_steps). Give more epochs or a larger pct_start."
        )
    _check_within(o, span)
    return [_schedule(lr, o, total_steps) for lr in learning_rates]


def one_cycle_min_updates(pct_start: float) -> int:
    """The fewest updates one_cycle takes at this pct_start: its rise, pct_start of them, must be longer than one
    update (pct_start * n > 1)."""
    return math.floor(1.0 / pct_start) + 1


def _check_within(o: ScheduleOptions, span: int) -> None:
    """A step size or milestone at or past the run's last update would never fire: refused, as warmup_steps."""
    run = f"the run's {span} updates" + (f" after warmup_steps ({o.warmup_steps})" if o.warmup_steps else "")
    if o.schedule == "step" and o.step_size_steps is not None and o.step_size_steps >= span:
        raise ValueError(f"step_size_steps must be less than {run}, or the rate never steps; got {o.step_size_steps}.")
    if o.schedule == "multistep" and o.milestones_steps is not None:
        late = [m for m in _milestones(o.milestones_steps, span) if m >= span]
        if late:
            raise ValueError(f"milestones_steps must each be less than {run}, or the rate never steps there; got "
                             f"{o.milestones_steps!r}.")


def _schedule(learning_rate: float, o: ScheduleOptions, total_steps: int) -> s.Schedule:
    span = total_steps - o.warmup_steps
    lr = learning_rate
    name = o.schedule
    if name == "constant":
        schedule = s.constant(lr)
    elif name == "step":
        schedule = s.step(lr, _given(o.step_size_steps, max(1, span // 3)), o.factor)
    elif name == "multistep":
        schedule = s.multistep(lr, _milestones(o.milestones_steps, span), o.factor)
    elif name == "exponential":
        schedule = s.exponential(lr, _given(o.decay_rate, 0.01), _given(o.decay_steps, span))
    elif name == "inverse_time":
        schedule = s.inverse_time(lr, _given(o.decay_rate, 1.0), _given(o.decay_steps, max(1, span // 10)))
    elif name == "power":
        schedule = s.power(lr, o.power, _given(o.scale_steps, max(1, span // 10)))
    elif name == "polynomial":
        schedule = s.polynomial(lr, o.end_value, o.power, _given(o.decay_steps, span))
    elif name == "cosine":
        schedule = s.cosine(lr, _given(o.decay_steps, span), o.end_value, o.restarts)
    elif name == "cyclic":
        schedule = s.cyclic(lr, _given(o.max_learning_rate, 10 * lr), _given(o.half_cycle_steps, max(1, span // 8)))
    else:
        schedule = s.one_cycle(lr, span, o.pct_start)
    return warmup(schedule, o.warmup_steps) if o.warmup_steps else schedule


def _given(value: T | None, default: T) -> T:
    """value when the option was given (0 included, for the schedule to check), else the default."""
    return default if value is None else value


def _milestones(text: str | None, span: int) -> list[int]:
    if text is None:
        return sorted({max(1, span // 2), max(2, 3 * span // 4)})
    try:
        return [int(part) for part in text.split(",")]  # an empty entry ('5,', '5,,10') is refused
    except ValueError:
        raise ValueError(
            f"milestones_steps must be comma-separated step counts such as 1000,2000; got {text!r}."
        ) from None

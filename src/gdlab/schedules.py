"""Learning-rate schedules (functions of the step) accepted wherever a learning rate is.

Every argument counts steps; ``by_epoch`` runs a schedule written in epochs.
"""

from gdlab.core.lr_plateau import ReduceOnPlateau, reduce_on_plateau
from gdlab.core.schedule_combinators import by_epoch, join, warmup
from gdlab.core.schedules import (
    SCHEDULES,
    Schedule,
    as_schedule,
    constant,
    cosine,
    cyclic,
    exponential,
    inverse_time,
    multistep,
    one_cycle,
    polynomial,
    power,
    step,
)

__all__ = [
    "SCHEDULES",
    "ReduceOnPlateau",
    "Schedule",
    "as_schedule",
    "by_epoch",
    "constant",
    "cosine",
    "cyclic",
    "exponential",
    "inverse_time",
    "join",
    "multistep",
    "one_cycle",
    "polynomial",
    "power",
    "reduce_on_plateau",
    "step",
    "warmup",
]

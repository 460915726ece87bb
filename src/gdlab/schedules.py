"""Learning-rate schedules (functions of the step) accepted wherever a learning rate is."""

from gdlab.core.schedules import constant

__all__ = ["constant"]

"""A run's seconds of training in words, the same in gdlab fit's summary and on the run's report page.

The quantity is the run's last recorded wall_time: training only, compiling and measurements (sharpness,
noise scale) left out, as gd.fit's result.train_seconds.
"""

from __future__ import annotations

TRAIN_SECONDS = "train seconds"
"""The label of that time, wherever it is shown."""


def seconds_text(seconds: float) -> str:
    """Three significant digits ('0.0422', '12.3'), whole seconds from 1000 on ('1234', not '1.23e+03')."""
    shown = f"{seconds:.3g}"
    return f"{seconds:.0f}" if "e+" in shown else shown  # 999.5 rounds to '1e+03' at three digits

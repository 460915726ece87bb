"""The lab's request bodies: pydantic models with every range and cap (422 names the field)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from gdlab.lab.formula import MAX_LENGTH
from gdlab.lab.paths import MAX_STEPS
from gdlab.lab.regression import MAX_POINTS

COORD = 1e4
"""The largest |coordinate| of a start point or view."""
MAX_GRID = 200
MAX_EPOCHS = 200
Optimizer = Literal["plain", "momentum", "nesterov"]
_PLAIN: tuple[Optimizer] = ("plain",)


class _Strict(BaseModel):
    """Numbers are StrictFloat/StrictInt and flags StrictBool: true is not 1, "0.5" is not 0.5 and 1 is not
    true (a JSON integer is still a float)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SurfaceRequest(_Strict):
    """A surface, its view and grid, and the optimizers to run from a start point."""

    surface: Literal["quadratic", "rosenbrock", "himmelblau", "beale", "saddle", "formula"] = "quadratic"
    formula: str | None = Field(None, max_length=MAX_LENGTH)
    condition: StrictFloat = Field(10.0, ge=1.0, le=1000.0, description="quadratic: L/mu")
    angle: StrictFloat = Field(0.0, ge=-180.0, le=180.0, description="quadratic: rotation in degrees")
    start: tuple[StrictFloat, StrictFloat] | None = None
    learning_rate: StrictFloat = Field(0.5, gt=0.0, le=100.0)
    momentum: StrictFloat = Field(0.9, ge=0.0, lt=1.0)
    optimizers: list[Optimizer] = Field(default_factory=lambda: list(_PLAIN), min_length=1, max_length=3)
    steps: StrictInt = Field(100, ge=1, le=MAX_STEPS)
    grid: StrictInt = Field(80, ge=0, le=MAX_GRID, description="grid points per side of the contour (0: none)")
    view: tuple[StrictFloat, StrictFloat, StrictFloat, StrictFloat] | None = Field(
        None, description="xmin, xmax, ymin, ymax"
    )

    @field_validator("optimizers")
    @classmethod
    def _optimizers(cls, optimizers: list[Optimizer]) -> list[Optimizer]:
        if len(set(optimizers)) != len(optimizers):
            raise ValueError(f"must not repeat an optimizer; got {optimizers}")
        return optimizers

    @field_validator("start")
    @classmethod
    def _start(cls, start: tuple[float, float] | None) -> tuple[float, float] | None:
        if start is not None and any(abs(v) > COORD for v in start):
            raise ValueError(f"coordinates must be within [-{COORD:g}, {COORD:g}]; got {list(start)}")
        return start

    @field_validator("view")
    @classmethod
    def _view(cls, view: tuple[float, float, float, float] | None) -> tuple[float, ...] | None:
        if view is None:
            return view
        if any(abs(v) > COORD for v in view):
            raise ValueError(f"coordinates must be within [-{COORD:g}, {COORD:g}]; got {list(view)}")
        if not (view[0] < view[1] and view[2] < view[3]):
            raise ValueError(f"must be xmin < xmax, ymin < ymax; got {list(view)}")
        return view


class RegressionRequest(_Strict):
    """Points for y = w*x + b (generated, or given), and the three descents over (w, b)."""

    n: StrictInt = Field(50, ge=2, le=MAX_POINTS)
    noise: StrictFloat = Field(0.5, ge=0.0, le=10.0)
    seed: StrictInt = Field(0, ge=0, le=2**32 - 1)
    points: list[tuple[StrictFloat, StrictFloat]] | None = Field(None, min_length=2, max_length=MAX_POINTS)
    batch_size: StrictInt = Field(8, ge=1, le=MAX_POINTS)
    learning_rate: StrictFloat = Field(0.1, gt=0.0, le=10.0)
    epochs: StrictInt = Field(5, ge=1, le=50)
    start: tuple[StrictFloat, StrictFloat] = (-1.0, 2.0)
    grid: StrictInt = Field(60, ge=0, le=MAX_GRID)

    @field_validator("start")
    @classmethod
    def _start(cls, start: tuple[float, float]) -> tuple[float, float]:
        if any(abs(v) > 100 for v in start):
            raise ValueError(f"coordinates must be within [-100, 100]; got {list(start)}")
        return start

    @field_validator("points")
    @classmethod
    def _points(cls, points: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if points is not None and any(abs(v) > 100 for p in points for v in p):
            raise ValueError("coordinates must be within [-100, 100]")
        return points


TRAIN_ROWS = {"linreg": 800, "mnist1d": 4000}
"""The training rows of each data set the lab trains on (``training.load_dataset``'s): the largest batch size."""


class TrainRequest(_Strict):
    """A training run of the real engine (bounded: MAX_EPOCHS epochs, small models)."""

    dataset: Literal["linreg", "mnist1d"] = "linreg"
    model: Literal["linear", "logistic", "mlp"] = "linear"
    hidden: list[StrictInt] = Field(default_factory=lambda: [32], min_length=1, max_length=3)
    batch_size: Literal["full"] | StrictInt = 32
    learning_rate: StrictFloat = Field(0.05, gt=0.0, le=100.0)
    momentum: StrictFloat = Field(0.0, ge=0.0, lt=1.0)
    nesterov: StrictBool = False
    schedule: Literal["constant", "step", "exponential", "cosine", "one_cycle"] = "constant"
    warmup_steps: StrictInt = Field(0, ge=0, le=100_000)
    stop: str | None = Field(None, max_length=200)
    epochs: StrictInt = Field(20, ge=1, le=MAX_EPOCHS)
    seed: StrictInt = Field(0, ge=0, le=2**32 - 1)

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, hidden: list[int], info: ValidationInfo) -> list[int]:
        """Sizes in [1, 256], for an mlp only (given with linear it was ignored: gdlab fit refuses it)."""
        model = info.data.get("model")
        if model is not None and model != "mlp":
            raise ValueError(f"applies only to model 'mlp' (the others have no hidden layers); got {hidden} with model "
                             f"{model!r}")
        if any(not 1 <= h <= 256 for h in hidden):
            raise ValueError(f"sizes must be in [1, 256]; got {hidden}")
        return hidden

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_size(cls, size: object, info: ValidationInfo) -> object:
        """One plain message for every bad value (2.5 gave pydantic's per-member union errors), with the range of
        the data set asked for (its training rows; any whole number >= 1 when the data set is itself bad)."""
        dataset = info.data.get("dataset")
        rows = TRAIN_ROWS.get(dataset) if isinstance(dataset, str) else None
        whole = isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= (rows or size)
        if size != "full" and not whole:
            allowed = f"in [1, {rows}] ({dataset}'s training rows)" if rows else ">= 1"
            raise ValueError(f"must be 'full' or a whole number {allowed}; got {json.dumps(size, default=repr)}")
        return size

"""Synthetic problems with known answers."""

from __future__ import annotations

import numpy as np

from gdlab.core.checks import check_bool, check_choice, check_float_range, check_int_range
from gdlab.core.dataset import Dataset


def linreg(
    n: int = 1000,
    features: int = 10,
    noise: float = 0.1,
    seed: int = 0,
    test_fraction: float = 0.2,
    bias: bool = True,
    dtype: str = "float32",
) -> Dataset:
    """Linear regression y = x w_true + b_true + noise*eps, x and eps standard normal.

    ``info`` holds true_weights (features,), true_bias and noise. dtype is
    "float32" or "float64" (float64 needs JAX's x64 mode to train in float64).
    """
    check_choice("dtype", dtype, ("float32", "float64"))
    n = check_int_range("n", n, 2)
    features = check_int_range("features", features, 1)
    noise = check_float_range("noise", noise, 0.0, float("inf"))
    seed = check_int_range("seed", seed, 0, 2**32 - 1)
    test_fraction = check_float_range("test_fraction", test_fraction, 0.0, 1.0)
    bias = check_bool("bias", bias)  # "no" would be truthy
    rng = np.random.default_rng(seed)
    w = rng.normal(size=features)
    b = float(rng.normal()) if bias else 0.0
    x = rng.normal(size=(n, features))
    y = x @ w + b + noise * rng.normal(size=n)
    n_test = int(n * test_fraction)
    return Dataset(
        x_train=x[n_test:].astype(dtype),
        y_train=y[n_test:].astype(dtype),
        x_test=x[:n_test].astype(dtype),
        y_test=y[:n_test].astype(dtype),
        task="regression",
        n_classes=None,
        name="linreg",
        info={"true_weights": w, "true_bias": b, "noise": noise, "seed": seed},
    )

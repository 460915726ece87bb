"""scikit-learn peer: ``MLPClassifier(solver="sgd")`` trained one epoch per ``partial_fit`` call.

``partial_fit`` makes exactly one shuffled pass over the data per call (its
loop breaks after the first iteration) and keeps the optimizer between calls;
``fit`` with ``max_iter=1, warm_start=True`` would also make one pass, but
rebuilds the optimizer and warns on every call. The random state is a
``RandomState`` object, not an int: sklearn re-seeds an int on every call, which
would repeat the same sample order each epoch.

sklearn has no public way to set the initial weights, so a first, untimed
``partial_fit`` allocates them, and the shared initial weights are then copied into
those arrays in place (the optimizer holds references to them).
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.neural_network import MLPClassifier

from benchmarks.workload import (
    LAYER_SIZES,
    LEARNING_RATE,
    SEED,
    Arrays,
    Layer,
    PeerRun,
    timed_epochs,
)

CLASSES = np.arange(LAYER_SIZES[-1])


def info() -> str:
    """How the sklearn peer trains, and its BLAS threads."""
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info())
    return f"sklearn {sklearn.__version__}: partial_fit = one epoch per call; {blas}"


def sklearn_classifier(batch_size: int) -> MLPClassifier:
    """The MLP with plain SGD: no momentum, no L2 (alpha=0), constant learning rate."""
    return MLPClassifier(
        hidden_layer_sizes=LAYER_SIZES[1:-1],
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=LEARNING_RATE,
        momentum=0.0,
        nesterovs_momentum=False,
        batch_size=batch_size,
        alpha=0.0,
        max_iter=1,
        warm_start=True,
        shuffle=True,
        random_state=np.random.RandomState(SEED),
    )


def start_from(clf: MLPClassifier, weights: tuple[Layer, ...], arrays: Arrays) -> None:
    """Allocate clf's weights with one (untimed) partial_fit, then overwrite them in place.

    The call sees all the training data: with warm_start=True sklearn requires
    every class in every call.
    """
    clf.partial_fit(arrays.x_train, arrays.y_train, classes=CLASSES)
    for coef, intercept, (w, b) in zip(clf.coefs_, clf.intercepts_, weights):
        coef[...] = w
        intercept[...] = b
    clf.t_, clf.n_iter_, clf.loss_curve_ = 0, 0, []


def run_sklearn(
    arrays: Arrays, weights: tuple[Layer, ...], batch_size: int, epochs: int
) -> PeerRun:
    """One partial_fit (one epoch) per timed epoch; test loss and accuracy from predict_proba."""
    clf = sklearn_classifier(batch_size)
    start_from(clf, weights, arrays)

    def train_epoch(epoch: int) -> float:
        clf.partial_fit(arrays.x_train, arrays.y_train)
        return float(clf.loss_)

    def evaluate() -> tuple[float, float]:
        proba = clf.predict_proba(arrays.x_test)
        picked = proba[np.arange(len(proba)), arrays.y_test]
        loss = -np.mean(np.log(np.clip(picked, 1e-12, None)))
        return float(loss), float(np.mean(np.argmax(proba, axis=1) == arrays.y_test))

    return timed_epochs(train_epoch, evaluate, epochs)

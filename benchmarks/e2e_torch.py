"""Plain PyTorch equivalent of ``gdlab fit`` with its defaults, for the whole-process timing.

    python benchmarks/e2e_torch.py

MNIST-1D read from gdlab's cache file (numpy only; no JAX, no gdlab import); an
MLP 40-100-100-10 with ReLU and nn.Linear's default initialisation; softmax
cross-entropy; plain SGD (learning rate 0.1, no momentum); batch size 32 from
a DataLoader(shuffle=True); 30 epochs; seed 0. After every epoch, like
gdlab's default metrics="exact": the loss and gradient norm on all 4000
training samples, and the loss and accuracy on the 1000 test samples.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

HIDDEN = (100, 100)
BATCH_SIZE = 32
LEARNING_RATE = 0.1
EPOCHS = 30
SEED = 0


def cache_path() -> Path:
    """gdlab's MNIST-1D cache: $GDLAB_CACHE_DIR, else $XDG_CACHE_HOME/gdlab, else ~/.cache/gdlab."""
    base = os.environ.get("GDLAB_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gdlab"
    )
    return Path(base) / f"mnist1d-{importlib.metadata.version('mnist1d')}.npz"


def load_mnist1d(path: Path) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test): x float32 (n, 40), y int64 (n,)."""
    with np.load(path, allow_pickle=False) as f:
        x, y, x_test, y_test = (f[k] for k in ("x", "y", "x_test", "y_test"))
    return (
        torch.from_numpy(x.astype(np.float32)),
        torch.from_numpy(y.astype(np.int64)),
        torch.from_numpy(x_test.astype(np.float32)),
        torch.from_numpy(y_test.astype(np.int64)),
    )


def mlp(inputs: int, hidden: tuple[int, ...], outputs: int) -> nn.Sequential:
    """Linear-ReLU-...-Linear with nn.Linear's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) init."""
    sizes = (inputs, *hidden)
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], outputs))


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader) -> None:
    """One pass over the shuffled batches: zero_grad, forward, cross-entropy, backward, step."""
    for xb, yb in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()


def loss_and_grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean loss on (x, y) and the 2-norm of its gradient over all parameters."""
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    norm = torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()
    return loss.item(), norm.item()


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean loss and accuracy on (x, y)."""
    with torch.no_grad():
        logits = model(x)
        return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()


def main() -> int:
    """Train, measure every epoch, print a short summary."""
    path = cache_path()
    if not path.exists():
        print(
            f"error: {path} not found; run `gdlab fit` once to create the MNIST-1D cache.",
            file=sys.stderr,
        )
        return 2
    torch.manual_seed(SEED)
    x, y, x_test, y_test = load_mnist1d(path)
    model = mlp(x.shape[1], HIDDEN, int(y.max()) + 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=True)
    history = []
    start = time.perf_counter()
    for _ in range(EPOCHS):
        train_epoch(model, optimizer, loader)
        history.append((*loss_and_grad_norm(model, x, y), *evaluate(model, x_test, y_test)))
    seconds = time.perf_counter() - start
    train_loss, grad_norm, test_loss, test_accuracy = history[-1]
    print(f"torch fit: {EPOCHS} epochs, batch_size {BATCH_SIZE}, learning_rate {LEARNING_RATE}")
    print(f"final train_loss {train_loss:.4f}  grad_norm {grad_norm:.4f}")
    print(f"final test_loss {test_loss:.4f}  test_accuracy {test_accuracy:.4f}")
    print(f"train seconds {seconds:.2f} ({seconds / EPOCHS * 1000:.1f} ms per epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

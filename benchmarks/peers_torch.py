"""PyTorch peers: the textbook DataLoader loop, and a loop over preloaded tensors with randperm.

Both use ``nn.Linear`` layers loaded with the shared initial weights,
``F.cross_entropy`` and ``torch.optim.SGD(lr=0.1)`` (no momentum), with
torch's default thread count. The DataLoader loop runs once more with one
thread: on a small, busy machine torch's default (one thread per core) can be
much slower than one thread, and a target should not pass only because of that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.workload import LEARNING_RATE, SEED, Arrays, Layer, PeerRun, timed_epochs

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def info() -> str:
    """The default thread count the torch peers start with."""
    return f"torch.get_num_threads() default = {torch.get_num_threads()}"


def torch_model(weights: tuple[Layer, ...]) -> nn.Sequential:
    """Linear-ReLU-...-Linear with the given (w, b) layers (nn.Linear stores w transposed)."""
    layers: list[nn.Module] = []
    for i, (w, b) in enumerate(weights):
        linear = nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(weights) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def run_torch_dataloader(
    arrays: Arrays, weights: tuple[Layer, ...], batch_size: int, epochs: int
) -> PeerRun:
    """for xb, yb in DataLoader(TensorDataset(x, y), batch_size, shuffle=True): one SGD step."""
    x, y, x_test, y_test = _tensors(arrays)
    generator = torch.Generator().manual_seed(SEED)
    loader = DataLoader(
        TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=generator
    )
    return _train(weights, lambda epoch: loader, x_test, y_test, epochs)


def run_torch_dataloader_one_thread(
    arrays: Arrays, weights: tuple[Layer, ...], batch_size: int, epochs: int
) -> PeerRun:
    """The DataLoader loop after torch.set_num_threads(1) (a check on the thread setting)."""
    torch.set_num_threads(1)
    return run_torch_dataloader(arrays, weights, batch_size, epochs)


def run_torch_randperm(
    arrays: Arrays, weights: tuple[Layer, ...], batch_size: int, epochs: int
) -> PeerRun:
    """order = torch.randperm(n); one SGD step on x[order[i:i+batch_size]] for each i."""
    x, y, x_test, y_test = _tensors(arrays)
    generator = torch.Generator().manual_seed(SEED)

    def batches(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            yield x[index], y[index]

    return _train(weights, batches, x_test, y_test, epochs)


def _tensors(arrays: Arrays) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(a) for a in arrays)


def _train(
    weights: tuple[Layer, ...],
    batches: Callable[[int], Batches],
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int,
) -> PeerRun:
    torch.manual_seed(SEED)
    model = torch_model(weights)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def train_epoch(epoch: int) -> float:
        return _sgd_epoch(model, optimizer, batches(epoch))

    def evaluate() -> tuple[float, float]:
        with torch.no_grad():
            logits = model(x_test)
            loss = F.cross_entropy(logits, y_test).item()
            return loss, (logits.argmax(dim=1) == y_test).float().mean().item()

    return timed_epochs(train_epoch, evaluate, epochs)


def _sgd_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Batches) -> float:
    """One pass: zero_grad, forward, cross-entropy, backward, step; returns the mean batch loss."""
    total, seen = 0.0, 0
    for xb, yb in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
        seen += len(xb)
    return total / seen

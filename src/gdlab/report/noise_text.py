"""The noise lesson in words: the conclusion's sentence, the figure's legend entries and its caption, each drawn
from the paths' numbers (report/noise.py) and saying only what they show."""

from __future__ import annotations

from collections.abc import Callable

from gdlab.report.noise import (
    POINTS,
    PathSummary,
    noise_back,
    noisier_first,
    of_kind,
    same_rate,
    smallest,
)
from gdlab.report.words import counted, join


def rises_text(p: PathSummary) -> str:
    """'rose in 64 of 160 stretches of 125 updates (by up to 0.12)': 'of up to 4 updates' where an epoch's last
    stretch is shorter, 'rose after 5 of 160 updates' where it measured after each; ', then diverged'."""
    if p.every == 1:
        text = f"rose after {p.rises} of {counted(p.stretches, 'update')}"
    else:
        up_to = "" if p.steps_per_epoch % p.every == 0 else "up to "
        text = f"rose in {p.rises} of {counted(p.stretches, 'stretch', 'stretches')} of {up_to}{p.every} updates"
    return text + _by(p) + ("" if p.finite else ", then diverged")


def legend_text(p: PathSummary) -> str:
    """A path's legend entry: its variant, rate and rises."""
    return f"{p.label} at {p.learning_rate:.3g}: {rises_text(p)}"


def paths_sentence(paths: tuple[PathSummary, ...], best_of: str) -> str:
    """The conclusion's sentence on the paths ("" where no path rose: nothing to say of noise); best_of: the
    variant whose best rate the "same" paths ran at."""
    if not any(p.rises for p in paths):
        return ""
    same, own = of_kind(paths, "same"), of_kind(paths, "best")
    parts = []
    if same:
        small = smallest(same)
        rate = same_rate(same)
        at = (f"the same learning rate {rate:.3g} ({best_of}'s best)" if rate is not None
              else f"{best_of}'s best learning rate or the nearest of each grid")
        others = [f"{p.rises} of {p.stretches}{_by(p)} for {p.label}{'' if p.finite else ', which then diverged'}"
                  for p in same if p is not small]
        parts.append(f"At {at}, one seed's train loss on all the data, measured up to {POINTS} times an epoch, "
                     f"{rises_text(small).replace('rose', f'rose for {small.label}', 1)}"
                     + (f", against {join(others)}" if others else "")
                     + (": the fewer samples an update averages, the noisier the path" if noisier_first(same) else ""))
    said = {(p.batch_size, p.learning_rate) for p in same}
    shown = [p for p in own if (p.batch_size, p.learning_rate) not in said]
    if shown:
        listed = join([f"{p.label} at {p.learning_rate:.3g} rose in {p.rises} of its {p.stretches}{_by(p)}"
                        for p in shown])
        back = noise_back(own)
        their = "its own best rate" if len(shown) == 1 else "their own best rates"
        parts.append(f"{'at' if same else 'At'} {their} {listed}" + (
            f": {join([p.label for p in back])}, with a larger rate than {smallest(own).label}, rose at least as often"
            if back else ""))
    return "; ".join(parts) + "."


def paths_caption(paths: tuple[PathSummary, ...], variants: list[tuple[str, bool]], seeds: int, running: bool) -> str:
    """The caption under the paths' figure. variants: each variant's (label, whether it trained); seeds: the seeds
    per config; running: the sweep recorded the running mean of each epoch's batch losses, not the exact loss."""
    same, own = of_kind(paths, "same"), of_kind(paths, "best")
    drawn = same or own
    small = smallest(drawn)
    text = ("Each update moves the params by the learning rate times its batch's gradient, and the fewer samples "
            "a batch averages, the further that gradient can be from the gradient of all the data. For one seed "
            f"({small.seed}), the train loss on all the training data was measured up to {POINTS} times an epoch: "
            f"{_spacing(drawn)}, so that a stretch between measurements holds {_samples(drawn)}.")
    if same:
        text += _left(same, variants, seeds)
    if own:
        text += _right(own, bool(same), variants)
    if running:
        text += (" The paths measure the loss on all the training data; the table, the curves above and the "
                 "conclusion's final losses are each epoch's mean batch loss (metrics running), so they differ.")
    return text


def _left(same: tuple[PathSummary, ...], variants: list[tuple[str, bool]], seeds: int) -> str:
    small = smallest(same)
    rate = same_rate(same)
    if rate is not None:
        text = f" Left: every variant at {small.label}'s best rate, {rate:.3g}."
    else:
        nearest = join([f"{p.label} at {p.learning_rate:.3g}" for p in same if p.learning_rate != small.learning_rate])
        text = (f" Left: every variant at {small.label}'s best rate, {small.learning_rate:.3g}, or the nearest of its "
                f"grid ({nearest}).")
    missing = [label for label, _ in variants if label not in {p.label for p in same}]
    if missing:
        text += _not_drawn(missing, "lies within half a decade of it")
    if noisier_first(same):
        averaged = " and averaged over seeds" if seeds > 1 else ""
        text += (f" {_upper(small.label)}'s path went up and down the most: it {rises_text(small)}. The per-epoch curves "
                 f"above, measured once an epoch{averaged}, smooth that noise away.")
    ends = [p for p in same if p.finite]
    if len(ends) >= 2:
        text += (" After the last epoch: " + join([f"{p.label} at {p.end:.3g}" for p in ends])
                 + f" (from {small.start:.3g} before training).")
    diverged = [p.label for p in same if not p.finite]
    if diverged:
        paths = "its path ends" if len(diverged) == 1 else "their paths end"
        text += f" {_upper(join(diverged))} diverged at this rate ({paths} at the last finite measurement, ×)."
    return text


def _right(own: tuple[PathSummary, ...], beside: bool, variants: list[tuple[str, bool]]) -> str:
    text = f" {'Right' if beside else 'Here'}: each variant at its own best rate: " + join(
        [f"{p.label} at {p.learning_rate:.3g} {rises_text(p)}" for p in own]) + "."
    untrained = [label for label, trained in variants if not trained]
    if untrained:
        text += _not_drawn(untrained, "trained")
    back = noise_back(own)
    if back:
        small = smallest(own)
        text += (" A larger batch's gradient is less noisy, so it can take a larger rate, and the larger steps bring "
                 f"noise back: {join([p.label for p in back])} rose at least as often as {small.label}"
                 + (f", by up to {max(p.largest_rise for p in back):.2g} against {small.largest_rise:.2g}" if
                    max(p.largest_rise for p in back) > small.largest_rise else "") + ".")
    return text


def _spacing(paths: tuple[PathSummary, ...]) -> str:
    """'every 125 updates for SGD, every 4 for mini-batch 32 and after every update for mini-batch 128 and batch
    GD': the variants of one spacing named together."""
    return join([("after every update" if every == 1 else f"every {every} updates") + f" for {join(labels)}"
                 for every, labels in _grouped(paths, lambda p: p.every)])


def _samples(paths: tuple[PathSummary, ...]) -> str:
    """'125 samples for SGD, 128 for mini-batch 32 and mini-batch 128 and 4000 for batch GD': each stretch's
    samples (updates x batch size), the variants of one count named together."""
    groups = _grouped(paths, lambda p: p.every * p.batch_size)
    return join([f"{n}{' samples' if k == 0 else ''} for {join(labels)}" for k, (n, labels) in enumerate(groups)])


def _grouped(paths: tuple[PathSummary, ...], key: Callable[[PathSummary], int]) -> list[tuple[int, list[str]]]:
    """(value, the labels of the paths that have it) for each value of key, in the paths' order."""
    groups: dict[int, list[str]] = {}
    for p in paths:
        groups.setdefault(key(p), []).append(p.label)
    return list(groups.items())


def _not_drawn(labels: list[str], why: str) -> str:
    """' Batch GD is not drawn there: no rate of its grid trained.' (why: what no rate of the grid did)."""
    one = len(labels) == 1
    return (f" {_upper(join(labels))} {'is' if one else 'are'} not drawn there: no rate of {'its' if one else 'their'} "
            f"grid {why}.")


def _by(p: PathSummary) -> str:
    """' (by up to 0.12)' after a count of rises ('' where none rose)."""
    return f" (by up to {p.largest_rise:.2g})" if p.rises else ""


def _upper(text: str) -> str:
    """A sentence's first word capitalised ('mini-batch 32 ...' starting a sentence)."""
    return text[:1].upper() + text[1:]

"""The plain-language conclusion of a comparison, every claim drawn from the summary's numbers."""

from __future__ import annotations

import math

from gdlab.core.stopping import DIVERGED_FACTOR
from gdlab.engine.result import COLLAPSE_BAND, RISING, RISING_EPOCHS
from gdlab.report.noise_text import paths_sentence
from gdlab.report.summary import (
    Summary,
    VariantSummary,
    any_diverging,
    higher_is_better,
    untrained_text,
)
from gdlab.report.words import counted, join


def conclusion(summary: Summary) -> str:
    """One paragraph: the winner, the variants no rate trained, who reached the target first, too high and
    too low rates, noise. A variant none of whose configs trained is never named best, nor its rate."""
    parts = [_winner(summary), _untrained(summary), _target(summary), _too_high(summary), _too_low(summary),
             _noise(summary), _balance(summary)]
    return " ".join(p[0].upper() + p[1:] for p in parts if p)


def metric_text(metric: str, value: float) -> str:
    """0.613 as '61.3%' for an accuracy, else '0.613'."""
    return f"{value:.1%}" if "accuracy" in metric else f"{value:.4g}"


def spread_text(metric: str, std: float) -> str:
    """A std over seeds as metric_text writes it, but an accuracy's always with two significant digits, so that
    spreads shown together compare as read: 0.000999 as '0.10%' beside 0.0015 as '0.15%', 0.0005 as '0.050%',
    0.123 as '12%' (zero stays '0.0%')."""
    if "accuracy" not in metric or not (math.isfinite(std) and std > 0):
        return metric_text(metric, std)
    rounded = float(f"{std * 100:.2g}")  # 0.0999 -> 0.1: the digits follow the rounded value's decade
    return f"{rounded:.{max(0, 1 - math.floor(math.log10(rounded)))}f}%"


def diverged_text(factor: float | None) -> str:
    """What diverged means: the train loss became non-finite, or the divergence rule caught it above factor times
    its loss before training (factor None: not known, a library sweep's rule may set another than 100)."""
    times = f"{factor:g} x" if factor is not None else f"the divergence rule's factor, {DIVERGED_FACTOR:g} by default, times"
    return f"a non-finite train loss, or one above {times} the loss before training"


def diverging_text() -> str:
    """What diverging means: the run ended above its loss before training, still rising (engine.result.rise_note)."""
    return (f"a final train loss above the loss before training that rose by more than {RISING:.0%} in each of the "
            f"last {RISING_EPOCHS} epochs")


def target_text(metric: str, value: float) -> str:
    """A target as written: 0.5 as '50%' for an accuracy, else '0.5'."""
    return f"{value * 100:g}%" if "accuracy" in metric else f"{value:g}"


def metric_name(metric: str) -> str:
    """'final_test_accuracy' -> 'test accuracy'."""
    return metric.removeprefix("final_").removeprefix("best_").replace("_", " ")


def ranked_name(metric: str) -> str:
    """What a metric row key says: 'final_test_accuracy' -> 'final test accuracy', 'best_test_accuracy' -> 'best
    test accuracy' (each config's best epoch), not 'final' for both."""
    return metric.replace("_", " ") if metric.startswith(("final_", "best_")) else f"final {metric_name(metric)}"


def failed_text(s: Summary, one: bool = False) -> str:
    """'diverged or collapsed', or where some config was still diverging at its end 'diverged, collapsed or were
    still diverging' ('was' of one)."""
    if not any_diverging(s):
        return "diverged or collapsed"
    return f"diverged, collapsed or {'was' if one else 'were'} still diverging"


def _winner(s: Summary) -> str:
    configs = sum(v.configs for v in s.variants)
    if sum(v.diverged + v.collapsed + v.diverging for v in s.variants) == configs:
        which = "the one config" if configs == 1 else f"all {configs} configs"
        when = "after" if any_diverging(s) else "within"  # not 'still diverging within'
        return (f"No learning rate in the grid trained: {which} {failed_text(s, configs == 1)} {when} "
                f"{counted(s.epochs, 'epoch')}, so no variant ended best; try smaller learning rates.")
    pick = max if higher_is_better(s.metric) else min
    trained = [v for v in s.variants if v.trained]
    best = pick(trained, key=lambda v: v.mean)
    spread = (f"{metric_text(s.metric, best.mean)} (one seed)" if best.seeds == 1 else
              f"{metric_text(s.metric, best.mean)} ± {spread_text(s.metric, best.std)} (mean ± std over "
              f"{best.seeds} seeds)")
    if len(s.variants) == 1:  # nothing to be best among
        return (f"With a budget of {counted(s.epochs, 'epoch')}, {best.label} ended at {ranked_name(s.metric)} "
                f"{spread} at its best learning rate {best.best_learning_rate:.3g}.")
    level = [v for v in trained if v is not best and abs(v.mean - best.mean) <= max(best.std, v.std)]
    if level and best.seeds > 1:  # within the seeds' spread of each other: no winner (0.01032 against 0.01033)
        return (f"With the same budget of {counted(s.epochs, 'epoch')} for every variant, "
                f"{join([best.label, *(v.label for v in level)])} ended level, within their spread over seeds: {best.label}'s "
                f"{ranked_name(s.metric)} was {spread} at learning rate {best.best_learning_rate:.3g}.")
    return (f"With the same budget of {counted(s.epochs, 'epoch')} for every variant, {best.label} ended best: "
            f"{ranked_name(s.metric)} {spread} at learning rate "
            f"{best.best_learning_rate:.3g}.")


def _untrained(s: Summary) -> str:
    """'No learning rate in the grid trained SGD (all 8 configs diverged); ...' unless none trained at all."""
    failed = [v for v in s.variants if not v.trained]
    if not failed or len(failed) == len(s.variants):  # none trained: _winner said so
        return ""
    each = join([f"{v.label} ({untrained_text(v).replace('all', _configs(v.configs))})" for v in failed])
    return (f"No learning rate in the grid trained {each} within {counted(s.epochs, 'epoch')}, so "
            f"{'it has' if len(failed) == 1 else 'they have'} no best learning rate; try smaller learning rates.")


def _target(s: Summary) -> str:
    if s.target is None:
        return ""
    goal = f"the target {metric_name(s.metric)} of {target_text(s.metric, s.target)}"
    missed = [v.label for v in s.variants if v.epochs_to_target is None]
    if s.first_by_epoch is None:
        return f"No variant reached {goal} within {counted(s.epochs, 'epoch')}."
    by_epoch = _named(s, s.first_by_epoch)
    by_second = _named(s, s.first_by_second)
    tied = [v for v in s.variants if v.epochs_to_target == by_epoch.epochs_to_target]
    if len(tied) > 1:  # per epoch none was first
        text = (f"{join([v.label for v in tied])} reached {goal} in the same epoch ({by_epoch.epochs_to_target}); "
                f"per second of compute, {by_second.label} was first ({_seconds(by_second)}"
                f"{'' if by_second in tied else f', epoch {by_second.epochs_to_target}'}).")
    elif by_epoch is by_second:
        text = (f"{by_epoch.label} reached {goal} first both per epoch (epoch {by_epoch.epochs_to_target}) "
                f"and per second ({_seconds(by_epoch)}).")
    else:
        text = (f"Per epoch, {by_epoch.label} reached {goal} first (epoch {by_epoch.epochs_to_target}, "
                f"{_seconds(by_epoch)}); per second of compute, {by_second.label} did ({_seconds(by_second)}, "
                f"epoch {by_second.epochs_to_target}), {_dearer(by_epoch, by_second)}.")
    close = [v for v in s.variants if v is not by_second and v.seconds_to_target is not None
             and v.seconds_to_target <= 1.1 * by_second.seconds_to_target]  # type: ignore[operator]
    if close:
        text += f" Within 10% of that per second: {join([f'{v.label} ({_seconds(v)})' for v in close])}."
    if missed:
        text += f" It was not reached within {counted(s.epochs, 'epoch')} by {join(missed)}."
    return text


def _dearer(first: VariantSummary, cheaper: VariantSummary) -> str:
    """Why first, ahead per epoch, was behind per second: its epoch took longer (which follows from the two
    orders); its updates per epoch are shown as they are, more or fewer."""
    return (f"since an epoch of {first.label} ({counted(first.steps_per_epoch, 'update')}) took "
            f"{first.seconds_per_epoch:.3g} s per config against {cheaper.seconds_per_epoch:.3g} s for "
            f"{cheaper.label} ({counted(cheaper.steps_per_epoch, 'update')})")


def _too_high(s: Summary) -> str:
    found = [v for v in s.variants if v.too_high is not None]
    configs = sum(v.configs for v in s.variants)
    budget = _too_high_for_budget(s)
    if not found and not sum(v.diverged + v.collapsed + v.diverging for v in s.variants):
        which = "The one config neither diverged nor" if configs == 1 else f"None of the {configs} configs diverged or"
        return f"{which} collapsed by gdlab's rules.{budget}"
    if not found:  # a minority of some rate's seeds failed
        return f"No learning rate in the grid failed for most seeds; in all, {_failures(s)}.{budget}"
    # at the grid's smallest rate it may have been too high already below it: "at or below"
    where = join([f"{'or below ' if v.too_high <= v.lowest_learning_rate else ''}{v.too_high:.3g} for {v.label}"
                  for v in found if v.too_high is not None])
    rates = "the smallest rate" if len(found) == 1 else "the smallest rates"  # larger ones may train again
    kinds = [f"diverged ({diverged_text(s.diverged_factor)})",
             (f"collapsed (a final train loss at or above the loss before training, or back within "
              f"{COLLAPSE_BAND:.0%} of it after rising above it)")]
    if any_diverging(s):
        were = "was" if most_seeds(s) == "the seed" else "were"
        kinds.append(f"{were} still diverging ({diverging_text()})")
    text = (f"The learning rate first became too high at {where}, {rates} at which {most_seeds(s)} "
            f"{', '.join(kinds[:-1])} or {kinds[-1]}; in all, {_failures(s)}.")
    safe = [v for v in s.variants if v.too_high is None]
    clean = [v.label for v in safe if not v.diverged + v.collapsed + v.diverging]
    some = [v.label for v in safe if v.diverged + v.collapsed + v.diverging]  # a minority of some rate's seeds
    if clean:
        text += f" For {join(clean)} no rate in the grid {failed_text(s, one=True)}."
    if some:  # it said "no rate diverged or collapsed" beside a table counting 1 of 16 collapsed
        text += f" For {join(some)} no rate failed for most of its seeds, though some seeds did."
    return text + budget


def _failures(s: Summary) -> str:
    """'2 of 24 configs diverged and 3 collapsed', or where some were still diverging at their end '2 of 24 configs
    diverged, 3 collapsed and 1 was still diverging when the budget ran out'."""
    diverged = sum(v.diverged for v in s.variants)
    collapsed = sum(v.collapsed for v in s.variants)
    diverging = sum(v.diverging for v in s.variants)
    configs = sum(v.configs for v in s.variants)
    if not diverging:
        return f"{diverged} of {configs} configs diverged and {collapsed} collapsed"
    return (f"{diverged} of {configs} configs diverged, {collapsed} collapsed and {diverging} "
            f"{'was' if diverging == 1 else 'were'} still diverging when the budget ran out")


def _too_high_for_budget(s: Summary) -> str:
    """' Yet a learning rate above the best did clearly worse within this budget of 30 epochs: batch GD at 3.5 ended at a
    mean final train loss of 2.18 against 1.68 at its best rate 1.5 (mean final test accuracy 19.0% against
    29.7%).' for the variants with rates that neither diverged nor collapsed but ended clearly worse
    (``worse_above``), else ''. Each variant names its smallest such rate (the paragraph stays one)."""
    worse = [v for v in s.variants if v.worse_above]
    if not worse:
        return ""
    mean = "" if all(v.seeds == 1 for v in s.variants) else "mean "
    clauses = []
    for v in worse:
        rate, loss, metric = v.worse_above[0]
        clauses.append(f"{v.label} at {rate:.3g} ended at a {mean}final train loss of {loss:.3g} against "
                       f"{v.best_final_train_loss:.3g} at its best rate {v.best_learning_rate:.3g} "
                       f"({mean}{ranked_name(s.metric)} {metric_text(s.metric, metric)} against "
                       f"{metric_text(s.metric, v.mean)})")
    which = "a learning rate above the best" if len(worse) == 1 else "learning rates above the best"
    # not "too high": the table's "too high from" is where most seeds failed, a rate above these
    return f" Yet {which} did clearly worse within this budget of {counted(s.epochs, 'epoch')}: {join(clauses)}."


SLOW = 0.5
"""The smallest rate is called slow where its train loss fell by less than this fraction of the fall at the best rate."""


def _too_low(s: Summary) -> str:
    slow = [v for v in s.variants if v.trained and v.lowest_learning_rate < v.best_learning_rate  # the lowest trained:
            and (v.too_high is None or v.too_high > v.lowest_learning_rate)
            and math.isfinite(v.lowest_final_train_loss) and _slow(v)]
    if not slow:
        return ""
    start = sum(v.initial_train_loss for v in slow) / len(slow)
    ends = [v.lowest_final_train_loss for v in slow]
    digits = next((d for d in range(3, 7) if all(f"{e:.{d}g}" != f"{start:.{d}g}" for e in ends)), 3)
    moved = join([f"{v.lowest_final_train_loss:.{digits}g} ({v.label} at {v.lowest_learning_rate:.3g})" for v in slow])
    return (f"Too low a rate is slow: at the smallest rates the train loss only fell from about {start:.{digits}g} "
            f"to {moved}.")


def _slow(v: VariantSummary) -> bool:
    """The smallest rate's train loss fell by less than SLOW of the best rate's fall (0.0615 from 5.71 is no slow
    rate beside 0.03 at the best)."""
    return v.initial_train_loss - v.lowest_final_train_loss < SLOW * (v.initial_train_loss - v.best_final_train_loss)


LEARNED = 0.5
"""The smallest and largest batches' spreads over seeds are compared only where the largest's train loss fell by
at least this share of the smallest's fall: a batch GD at 20% accuracy after 5 epochs was 'calm' beside SGD."""


def _noise(s: Summary) -> str:
    small = min(s.variants, key=lambda v: v.batch_size)
    large = max(s.variants, key=lambda v: v.batch_size)
    if small is large:
        return ""
    text = ""
    # failed at its grid's smallest rate: where it would first have failed is not known, nor is the comparison
    censored = small.too_high is not None and small.too_high <= small.lowest_learning_rate
    if small.too_high is not None and not censored and (large.too_high is None or small.too_high < large.too_high):
        tail = "at no rate of its grid" if large.too_high is None else f"first at {large.too_high:.3g}"
        text = (f"The gradient of {_samples(small.batch_size)} is noisy: {small.label} first failed at a learning "
                f"rate of {small.too_high:.3g}, while {large.label}, averaging {_samples(large.batch_size)}, "
                f"failed {tail}. ")
    measured = paths_sentence(s.paths, small.label) if s.paths else ""
    if measured:  # measured many times an epoch: what the per-epoch numbers below only hint at
        return text + measured
    noisier = []
    if not (small.trained and large.trained):  # "at its best rate" would name a rate that did not train
        return text.strip()
    small_fall, large_fall = (v.initial_train_loss - v.best_final_train_loss for v in (small, large))
    if large_fall < LEARNED * small_fall and min(small.seeds, large.seeds) < 2:  # no spreads to compare anyway
        return text.strip()
    if large_fall < LEARNED * small_fall:  # a batch GD that barely moved varies little over seeds: no lesson there
        barely = (f"{large.label} had barely trained at its best rate (its train loss fell by {large_fall:.3g}, "
                  f"against {small_fall:.3g} for {small.label}), so their spreads over seeds are not compared.")
        return text + barely[0].upper() + barely[1:]
    if small.rises > large.rises:
        noisier.append(f"its train loss went up in {_count(small.rises)} of {s.epochs - 1} epoch-to-epoch changes "
                      f"(mean over seeds) against {_count(large.rises)} for {large.label}")
    if small.std > large.std and spread_text(s.metric, small.std) != spread_text(s.metric, large.std):
        noisier.append(f"its {ranked_name(s.metric)} varied over seeds by ± {spread_text(s.metric, small.std)} "
                      f"against ± {spread_text(s.metric, large.std)} for {large.label}")
    if noisier:
        calm = ("whose one exact step per epoch is calm" if large.steps_per_epoch == 1
                else f"whose every step averages {_samples(large.batch_size)}")
        text += f"At its best rate {small.label} was the noisier: {join(noisier)}, {calm}."
    return text.strip()


def _balance(s: Summary) -> str:
    sizes = sorted(v.batch_size for v in s.variants)
    middle = [v for v in s.variants if v.label == s.first_by_second and sizes[0] < v.batch_size < sizes[-1]]
    if not middle:
        return ""
    v = middle[0]
    small = min(s.variants, key=lambda u: u.batch_size)
    text = (f"{v.label}, between the smallest and the largest batch, was the fastest to the target per second "
            f"of compute, with {counted(v.steps_per_epoch, 'update')} per epoch, each averaging "
            f"{_samples(v.batch_size)}")
    if small.too_high is not None and v.too_high is not None and v.too_high > small.too_high:  # the grids' one
        text += (f", and it took larger rates: the smallest at which {most_seeds(s)} failed was "  # measure of it
                 f"{v.too_high:.3g}, against {small.too_high:.3g} for {small.label}")
    return text + "."


def most_seeds(s: Summary) -> str:
    """'most seeds', or 'the seed' where each config has one."""
    return "the seed" if all(v.seeds == 1 for v in s.variants) else "most seeds"


def _configs(n: int) -> str:
    """'all 8 configs', or 'its one config'."""
    return "its one config" if n == 1 else f"all {n} configs"


def _count(mean: float) -> str:
    """A mean count over seeds: 150, not 1.5e+02; 2.33 with its fraction."""
    return f"{mean:.0f}" if mean == round(mean) else f"{mean:.3g}" if mean < 100 else f"{mean:.1f}"


def _samples(n: int) -> str:
    return "one sample" if n == 1 else f"{n} samples"


def _named(s: Summary, label: str | None) -> VariantSummary:
    return next(v for v in s.variants if v.label == label)


def _seconds(v: VariantSummary) -> str:
    return f"{v.seconds_to_target:.3g} s per config"

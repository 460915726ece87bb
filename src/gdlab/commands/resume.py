"""``gdlab resume ID``: go on with an interrupted ``gdlab fit`` run from its last checkpoint, or go on
with the unfinished configs of an interrupted ``gdlab compare`` sweep from their last checkpoints."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import gdlab as gd
from gdlab.commands import hints
from gdlab.commands.data_files import check_unchanged, recorded_dataset
from gdlab.commands.fit import RecordOptions, options_from_dict, run_fit
from gdlab.commands.interrupts import INTERRUPTS
from gdlab.store.resume import check_resumable


def run_resume(run_id: str, db: str, *, show_progress: bool, as_json: bool) -> dict[str, Any]:
    """Rebuild the run's ``gdlab fit`` options from its record and train on from its last checkpoint."""
    with gd.store.open(db, create=False) as store:
        found = store.find(run_id)
        if isinstance(found, gd.store.Sweep):
            return _resume_sweep(store, found, show_progress=show_progress, as_json=as_json)
        run = found
        if run.kind != "fit":
            raise gd.store.StoreError(f"run_id {run.id} is a run of kind {run.kind}, not a gdlab fit run"
                                      f"{_sweep_hint(store.sweep_of(run.id), db)}.")
        check_resumable(run)
        recorded = run.config.get("cli")
        if not isinstance(recorded, dict):
            where = "by gdlab lab" if "lab" in run.config else "from the library"
            raise gd.store.StoreError(
                f"run_id {run.id} was recorded {where}, not by gdlab fit; "
                "resume it with gd.resume(run_id, store, model, data, rule)."
            )
        try:
            options = options_from_dict(recorded)
        except TypeError as err:
            raise gd.store.StoreError(
                f"run_id {run.id} was recorded with options this gdlab does not know ({err})."
            ) from None
        dataset_file = recorded_dataset(run.config, options.dataset, f"run {run.id}")  # options keep it as typed
    record = RecordOptions(db=db, checkpoint_every=run.checkpoint_every, resume=run.id, dataset_file=dataset_file)
    return run_fit(options, show_progress=show_progress, as_json=as_json, record=record)


def _sweep_hint(sweep: gd.store.Sweep | None, db: str) -> str:
    """What goes on with a sweep member: its sweep's resume while unfinished; a done sweep has nothing to resume."""
    if sweep is None:
        return ""
    if sweep.status == "done":  # its resume said 'no unfinished configs; there is nothing to resume'
        return f"; it is a member of sweep {sweep.id}, which has finished (done): there is nothing to resume"
    return f"; {hints.resume_sweep(sweep.id, sweep.kind, db)} goes on with it"


def group_text(group: gd.store.UnfinishedGroup, *, why: bool = True) -> str:
    """'batch size 32, cosine: 4 unfinished configs from epoch 2' (no schedule when constant); configs with no
    checkpoint yet (interrupted before their first save) restart: '... from the start (no checkpoint yet)', the
    parenthesis left out where why is False (a progress bar's label, whose count starts at 0)."""
    schedule = "" if group.schedule == "constant" else f", {group.schedule}"
    start = f" from epoch {group.from_epoch}" if group.from_epoch else " from the start"
    if why and not group.from_epoch:
        start += " (no checkpoint yet)"
    return (f"batch size {group.batch_size}{schedule}: {group.configs} unfinished "
            f"config{'' if group.configs == 1 else 's'}{start}")


def _resume_sweep(
    store: gd.store.Store, sweep: gd.store.Sweep, *, show_progress: bool, as_json: bool
) -> dict[str, Any]:
    """Rebuild a gdlab compare sweep's model and data from its record, go on with its unfinished configs, and
    write what the compare was asked for (its report, CSV and JSON files, and its table and conclusion)."""
    from gdlab.commands.compare import (
        CompareOptions,
        comparison_json,
        measured_paths,
        output_paths,
        paths_interrupted_text,
        print_summary,
        write_outputs,
    )
    from gdlab.commands.fit import build_model, load_data
    from gdlab.commands.progress import Bars
    from gdlab.commands.report import sweep_comparison
    from gdlab.report import conclusion, summarize

    recorded = sweep.config.get("cli")
    if sweep.kind != "compare" or not isinstance(recorded, dict):
        raise gd.store.StoreError(
            f"sweep_id {sweep.id} was recorded from the library, not by gdlab compare; "
            "resume it with gd.store.resume_sweep(sweep_id, store, model, data)."
        )
    try:
        options = CompareOptions(**recorded)
    except TypeError as err:
        raise gd.store.StoreError(f"sweep_id {sweep.id} was recorded with options this gdlab does not know ({err}).") from None
    options = replace(options, dataset=recorded_dataset(sweep.config, options.dataset, f"sweep {sweep.id}"))
    paths = output_paths(options)  # written where the resume runs, checked before it trains
    model = build_model(options.model, options.hidden, options.activation, all_used=False)
    data = load_data(options.dataset, options.target_column, options.task)
    check_unchanged(options.dataset, sweep.config.get("dataset_fingerprint"), data.fingerprint(), f"sweep {sweep.id}")
    gd.enable_compilation_cache()
    groups = gd.store.unfinished_groups(sweep.id, store)
    if not groups and sweep.status == "done":
        raise gd.store.StoreError(f"sweep_id {sweep.id} has no unfinished configs; there is nothing to resume "
                                  f"({hints.gdlab(f'report {sweep.id}', store.path)} writes its report).")
    _train_unfinished(store, sweep.id, groups, model, data, options, show_progress)  # this process holds it now
    try:
        comparison = sweep_comparison(store, store.sweep(sweep.id))
        shown = summarize(comparison)
        if not comparison.paths:  # a compare stopped after its last config, or one that measured none
            with Bars(show_progress) as bars:
                comparison, shown = measured_paths(bars, comparison, shown, model, data)
    except BaseException as error:
        store.record_sweep_error(sweep.id, error)
        if isinstance(error, KeyboardInterrupt):  # typer turns it into exit code 130 without a word
            sys.stderr.write(paths_interrupted_text(sweep.id, store.path) + "\n")
            INTERRUPTS.told = True
        raise
    store.finish_sweep(sweep.id, {"loss_paths": comparison.paths})
    done = store.sweep(sweep.id)
    summary = {"sweep_id": done.id, "status": done.status, "reason": done.reason, "db": str(store.path)}
    write_outputs(comparison, paths)
    text = conclusion(shown)
    if not as_json:
        sys.stdout.write(f"sweep {done.id}: {done.reason}\n")
        print_summary(shown, comparison, text, {**paths, "sweep_id": done.id, "db": str(store.path)})
    return {**summary, **comparison_json(shown, comparison, text), **{name: str(path) for name, path in paths.items()}}


def _train_unfinished(
    store: gd.store.Store, sweep_id: str, groups: list[gd.store.UnfinishedGroup], model: gd.Model, data: gd.Dataset,
    options: Any, show_progress: bool,
) -> None:
    """gd.store.resume_sweep (finish=False: this process holds the sweep after it, even with no group to train)
    with a progress bar per group; on Ctrl-C, say how to go on."""
    from gdlab.commands.compare import interrupted_text
    from gdlab.commands.progress import Bars

    epochs = int(options.epochs)
    with Bars(show_progress) as bars:
        tasks = [bars.add(group_text(group, why=False), epochs, "waiting") for group in groups]
        for task, group in zip(tasks, groups, strict=True):
            bars.bar.update(task, completed=group.from_epoch)
        moves = [bars.epochs(task) for task in tasks]
        try:  # finish=False: the sweep stays this process's until its paths are measured too
            gd.store.resume_sweep(sweep_id, store, model, data, callback=lambda g, e, a: moves[g](g, e, a),
                                  checkpoint_seconds=options.checkpoint_seconds, finish=False)
        except KeyboardInterrupt:  # typer turns it into exit code 130 without a word
            sys.stderr.write(interrupted_text(sweep_id, store.path) + "\n")
            INTERRUPTS.told = True
            raise
        for task in tasks:
            bars.bar.update(task, completed=epochs, status="done")

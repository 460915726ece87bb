"""The lab's web app: JSON endpoints over gdlab's own computations, the static page, plotly.js.

    GET  /                          the page
    POST /api/surface               contour, descent paths, verdicts (SurfaceRequest)
    POST /api/regression            batch / SGD / mini-batch over (w, b) (RegressionRequest)
    POST /api/train                 start a training job (TrainRequest) -> {"job": id}
    GET  /api/train/{job}/events    the job's epochs as server-sent events, then an end event
    POST /api/train/{job}/stop      stop the job after its current epoch (?wait=s: answer once it has ended)
    GET  /api/runs                  recorded runs in the store (newest first)
    GET  /api/runs/{run_id}         one run's per-epoch metrics, with epoch 1..n (to overlay)
    GET  /openapi.json              the API schema (FastAPI's own)

Bad values answer 400 (``ValueError`` from gdlab) or 422 (the request model), with
``detail`` naming the field; bodies over ``MAX_BODY`` bytes answer 413 unread. Answers and events write
float32 numbers as their shortest text, float64 ones as they are, non-finite ones as null (lab/responses.py).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from gdlab.lab import views
from gdlab.lab.responses import ShortestJSONResponse, event_text
from gdlab.lab.schemas import RegressionRequest, SurfaceRequest, TrainRequest
from gdlab.lab.training import Jobs, TrainSpec
from gdlab.store import open as open_store
from gdlab.store.model_text import model_text, recorded_model
from gdlab.store.schedule_text import batch_size_as_given, rate_and_schedule

MAX_BODY = 64 * 1024
MAX_STOP_WAIT = 120.0
"""The longest a stop request waits for its run to end (an epoch of the lab's largest run is seconds)."""
STATIC = Path(str(resources.files("gdlab.lab") / "static"))


def create_app(db: str | None = None) -> FastAPI:
    """The lab app; ``db`` is the gdlab database whose runs it lists and records (None: no records)."""
    app = FastAPI(title="gdlab lab", version="1", docs_url=None, redoc_url=None,
                  default_response_class=ShortestJSONResponse)
    app.state.db = db
    app.state.jobs = Jobs(db)
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValueError, _bad_value)
    app.add_exception_handler(TypeError, _bad_value)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


router = APIRouter()


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def plotly_js() -> FileResponse:
    return FileResponse(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.post("/api/surface")
def surface(req: SurfaceRequest) -> ShortestJSONResponse:
    """Gradient descent on a 2-D surface: contour grid, one path per optimizer, verdicts."""
    return ShortestJSONResponse(views.surface_view(req))  # not FastAPI's encoder: the grid is thousands of numbers


@router.post("/api/regression")
def regression(req: RegressionRequest) -> ShortestJSONResponse:
    """Batch, SGD and mini-batch descents on y = w*x + b from the same start and data order."""
    return ShortestJSONResponse(views.regression_view(req))


@router.post("/api/train")
def train(req: TrainRequest, request: Request) -> dict[str, Any]:
    """Start a training run of the engine in the background; read it from /api/train/{job}/events."""
    spec = TrainSpec(**{**req.model_dump(), "hidden": tuple(req.hidden)})
    try:
        job = request.app.state.jobs.start(spec)
    except RuntimeError as busy:
        raise HTTPException(429, str(busy)) from None
    return {"job": job.id}


@router.get("/api/train/{job_id}/events")
async def events(job_id: str, request: Request) -> StreamingResponse:
    """The job's events as server-sent events: epoch, ..., then end (or error)."""
    job = _job(request.app.state.jobs, job_id)
    return StreamingResponse(_stream(job, request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.post("/api/train/{job_id}/stop")
def stop(job_id: str, request: Request, wait: float = 0.0) -> dict[str, Any]:
    """Ask the job to stop after its current epoch; with wait > 0, answer once it has ended (or after wait
    seconds), so that a run started next is not refused while this one still holds its place."""
    if not 0.0 <= wait <= MAX_STOP_WAIT:
        raise ValueError(f"wait must be a number of seconds in [0, {MAX_STOP_WAIT:g}]; got {wait}.")
    job = _job(request.app.state.jobs, job_id)
    job.stop.set()
    if wait:
        job.done.wait(wait)
    return {"job": job.id, "stopping": not job.finished}


@router.get("/api/runs")
def runs(request: Request, limit: int = 50) -> dict[str, Any]:
    """The recorded runs (newest first, at most limit): model, hidden and activation as gdlab runs list --json
    gives them, model_text in words as the page lists it ('mlp 100,100')."""
    if not 1 <= limit <= 500:
        raise ValueError(f"limit must be an integer in [1, 500]; got {limit}.")
    db = request.app.state.db
    if db is None or not Path(db).exists():
        return {"db": db, "runs": []}
    with open_store(db, create=False) as store:
        rows = [{"id": r.id, **_model_fields(r.model, r.config), "dataset": r.dataset,
                 "status": r.status, "created_at": r.created_at, "epochs_run": r.epochs_run,
                 **dict(zip(("learning_rate", "schedule"), rate_and_schedule(r.config))),  # as runs list shows them
                 "batch_size": batch_size_as_given(r.config)} for r in store.runs()[:limit]]
    return {"db": db, "runs": rows}


def _model_fields(model: str | None, config: dict[str, Any]) -> dict[str, Any]:
    """model (its name), hidden and activation as gdlab runs --json gives them; model_text in words."""
    hidden, activation = recorded_model(config)
    return {"model": model, "hidden": hidden, "activation": activation,
            "model_text": model_text(model, hidden, activation)}


@router.get("/api/runs/{run_id}")
def run_history(run_id: str, request: Request) -> dict[str, Any]:
    """One run's per-epoch metrics as recorded (its model as /api/runs gives it): float32 numbers as their shortest
    text, times and float64 runs' numbers as they are, not cut to the 6 digits the drawings of views.py get."""
    db = request.app.state.db
    if db is None or not Path(db).exists():
        raise ValueError(f"run_id: no run {run_id!r} (the lab has no database).")
    with open_store(db, create=False) as store:
        run = store.run(run_id)
        history = store.history(run.id)
    epochs = len(history.get("train_loss", []))
    return {"id": run.id, **_model_fields(run.model, run.config), "dataset": run.dataset,
            "status": run.status,  # epochs from 1, as streamed; the loss before training is epoch 0
            "initial_loss": run.initial_loss if run.initial_loss is not None and math.isfinite(run.initial_loss) else None,
            "history": {"epoch": list(range(1, epochs + 1)), **{k: v.tolist() for k, v in history.items()}}}


def _job(jobs: Jobs, job_id: str) -> Any:
    try:
        return jobs.get(job_id)
    except KeyError as missing:
        raise HTTPException(404, str(missing).strip("'\"")) from None


async def _stream(job: Any, request: Request) -> AsyncIterator[str]:
    sent = 0
    while True:
        fresh = job.events[sent:]
        for event in fresh:
            yield event_text(event)
        sent += len(fresh)
        if job.finished and sent >= len(job.events):
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.05)


def _plotly_js() -> Path:
    """plotly.min.js from the installed plotly package (no network, no CDN)."""
    try:
        import plotly
    except ImportError as missing:
        raise ValueError("plotly is not installed: pip install plotly (the lab draws with its plotly.js).") \
            from missing
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


SHOWN_INPUT = 60
"""The most characters of a refused value a 422 repeats (the body may be 64 KB)."""


async def _validation_error(request: Request, exc: Exception) -> ShortestJSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(e) for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ShortestJSONResponse({"detail": detail, "errors": errors}, status_code=422)


def _field_error(error: Any) -> dict[str, str]:
    """One pydantic error as {"field", "message"}; broken JSON is the body's, at its character (its loc)."""
    if error["type"] == "json_invalid":
        at, why = error["loc"][-1], error.get("ctx", {}).get("error", "")
        return {"field": "body", "message": f"{error['msg']} at character {at}" + (f": {why}" if why else "")}
    message = str(error["msg"])
    if message.startswith("Value error, "):  # our own checks: they say what was given
        message = message.removeprefix("Value error, ")
    elif "input" in error and error["type"] != "missing":  # pydantic's ("Input should be ...") did not
        given = repr(error["input"])
        message += f"; got {given if len(given) <= SHOWN_INPUT else given[:SHOWN_INPUT - 3] + '...'}"
    return {"field": ".".join(str(p) for p in error["loc"] if p != "body") or "body", "message": message}


async def _bad_value(request: Request, exc: Exception) -> ShortestJSONResponse:
    return ShortestJSONResponse({"detail": str(exc)}, status_code=400)


class BodyLimit:
    """ASGI middleware: refuse (413) a request body over ``limit`` bytes, by header or as it streams in."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and not length.isdigit():
            await _answer(send, 400, f"content-length must be a number of bytes; got {length.decode('latin-1')!r}.")
            return
        if length is not None and int(length) > self.limit:
            await self._refuse(send, length.decode("latin-1"))
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._refuse(send, f"more than {len(body)}")
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any, size: str) -> None:
        await _answer(send, 413, f"body must be at most {self.limit} bytes; got {size} bytes.")


async def _answer(send: Any, status: int, detail: str) -> None:
    """A JSON {"detail": ...} response sent straight through ASGI (the app never sees the request)."""
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})

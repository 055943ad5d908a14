"""Builds the FastAPI application from its routers; refuses to build with unsafe settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from failclosed.app import metrics
from failclosed.app.receive.bodies import BodyGate, BodyLimits
from failclosed.app.receive.webhooks import JobSink
from failclosed.app.receive.webhooks import routes as webhook_routes
from failclosed.app.settings import Settings, get_settings, redacted_url

logger = logging.getLogger(__name__)

health_router = APIRouter(tags=["health"])


@health_router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """For the container's HEALTHCHECK and load balancers: 503 with the reason when the
    sink says deliveries cannot be accepted (a queue file deleted under the process), so
    nobody takes a service that answers every delivery 503 for a healthy one. Cheap: the
    embedded queue stats its file, nothing else is touched."""
    problem = sink_problem(request.app.state.job_sink)
    if problem is not None:
        return JSONResponse(
            {"status": "unhealthy", "reason": problem}, status.HTTP_503_SERVICE_UNAVAILABLE
        )
    return JSONResponse({"status": "ok"})


def sink_problem(sink: object) -> str | None:
    """The sink's own account of why it cannot accept jobs, if it keeps one."""
    problem = getattr(sink, "problem", None)
    return problem() if callable(problem) else None


def create_app(
    settings: Settings | None,
    sink: JobSink,
    on_shutdown: Callable[[], None] | None = None,
    body_limits: BodyLimits | None = None,
) -> FastAPI:
    """The App's ASGI application.

    `settings` None means the environment's (`get_settings`). `sink` is required: a
    service that promises to lose nothing has no non-durable default.
    `on_shutdown` runs when the server shuts down (SIGTERM), before the process exits:
    uvicorn re-raises the signal afterwards, so code after `uvicorn.run` never runs.
    `body_limits` bounds the unauthenticated bodies being read at once (`app.receive.bodies`).
    Raises `SettingsError` before anything is served when the settings are unsafe.
    """
    if settings is None:
        settings = get_settings()
    settings.validate_for_serving()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    # No interactive docs: the only clients are GitHub and health probes.
    app = FastAPI(
        title="failclosed", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.job_sink = sink
    app.state.body_gate = BodyGate(body_limits)
    app.include_router(health_router)
    app.router.routes.extend(webhook_routes)
    app.include_router(metrics.router)
    counts = getattr(sink, "counts", None)
    if callable(counts):  # the durable queues: their states at /metrics
        metrics.watch_queue(counts)
    logger.info(
        "failclosed app ready",
        extra={"app_id": settings.app_id, "github_api_url": redacted_url(settings.github_api_url)},
    )
    return app

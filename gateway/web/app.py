"""Builds the FastAPI application around a :class:`~gateway.runtime.Gateway`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from gateway import __version__
from gateway.runtime import Gateway
from gateway.web import answers, api, health


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(
        title="Sunshine Gateway",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.gateway = gateway
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(answers.router)
    for channel in gateway.channels.values():
        if channel.router is not None:
            app.include_router(channel.router)

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/chat")

    return app

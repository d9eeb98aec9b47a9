"""`/docs` (Swagger UI) and `/redoc` (ReDoc), served with no CDN.

FastAPI's pages load Swagger UI and ReDoc from a CDN, so they are blank on a machine
without internet access. Here the same pages load them from the files the
`fastapi-offline` package ships (installed with agentcal), mounted under `/docs/assets`:
the pages work wherever agentcal runs.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

ASSETS = "/docs/assets"
_FILES = files("fastapi_offline") / "static"


def install(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Add the two pages and their assets to `app`, created with `docs_url=None` and
    `redoc_url=None` so that FastAPI's own pages are not there too."""
    app.mount(ASSETS, StaticFiles(directory=str(_FILES)), name="docs-assets")
    title = app.title

    def url(request: Request, path: str) -> str:
        return f"{request.scope.get('root_path', '')}{path}"

    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=url(request, app.openapi_url or "/openapi.json"),
            title=f"{title} - Swagger UI",
            swagger_js_url=url(request, f"{ASSETS}/swagger-ui-bundle.js"),
            swagger_css_url=url(request, f"{ASSETS}/swagger-ui.css"),
            swagger_favicon_url=url(request, f"{ASSETS}/favicon.png"),
            # No validator badge: it is an image fetched from the validator's site.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=url(request, app.openapi_url or "/openapi.json"),
            title=f"{title} - ReDoc",
            redoc_js_url=url(request, f"{ASSETS}/redoc.standalone.js"),
            redoc_favicon_url=url(request, f"{ASSETS}/favicon.png"),
            with_google_fonts=False,
        )

    app.add_api_route(docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(redoc_url, redoc, methods=["GET"], include_in_schema=False)

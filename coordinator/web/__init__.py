"""The dashboard: a task at a glance in a browser, served by the coordinator itself.

Static files only (`static/`: one HTML page, one script, one stylesheet), no build step and
nothing fetched from elsewhere, so it works offline. The page reads the same REST routes as every
client (`/tasks`, `/tasks/{id}`, `/tasks/{id}/rounds`, `/models/{id}/lineage`, `/council/motions`,
`/health`) and polls them, so it follows a round as it commits. Everything it shows is set as
text, never as HTML: names and reasons come from the chain, written by anyone.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
# Only this origin's scripts, styles and REST; no inline script, no framing.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Dashboard(StaticFiles):
    """The static files, each with the page's security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, secured)


def mount(app: FastAPI) -> None:
    """Serve the dashboard at /dashboard/ (and / redirects there); not part of the OpenAPI."""
    app.mount("/dashboard", Dashboard(directory=STATIC, html=True), name="dashboard")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

"""The app factory: a Litestar app over one `Application` (the composition root's services)."""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Router
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.static_files import create_static_files_router

from resolutionflow_api.auth import SECURITY_SCHEME, bearer_authentication, provide_actor
from resolutionflow_api.controllers.conversation import ConversationController, TurnContext
from resolutionflow_api.controllers.dashboard import DashboardController
from resolutionflow_api.controllers.health import HealthProbe, health
from resolutionflow_api.controllers.keys import KeyController
from resolutionflow_api.controllers.legacy import LegacyAssistantController, deprecation_headers
from resolutionflow_api.controllers.lifecycle import LifecycleController
from resolutionflow_api.controllers.psa import DeliveryController, PSAConnectionController
from resolutionflow_api.controllers.sessions import SessionController
from resolutionflow_api.deadline import RequestDeadline
from resolutionflow_api.headers import safety_headers
from resolutionflow_api.idempotency import IdempotencyGate
from resolutionflow_api.problems import problem_details_plugin
from resolutionflow_api.relay import InProcessRelay
from resolutionflow_api.schema import refine
from resolutionflow_api.streaming import ReplyStreams
from resolutionflow_app import Application
from resolutionflow_core.access import Actor

API_PREFIX = "/api/v1"
SCHEMA_PATH = "/schema"
SWAGGER_UI = f"{SCHEMA_PATH}/assets/swagger-ui"
"""Pinned Swagger UI files shipped in this package: the docs need no CDN (no internet)."""
STREAM_GRACE_SECONDS = 30.0
"""On shutdown, how long replies still streaming get to be completed and stored."""
RELAY_GRACE_SECONDS = 10.0
"""On shutdown, how long the PSA relay gets to finish the delivery in hand."""


def create_app(application: Application, *, close_application: bool = False) -> Litestar:
    """The HTTP API over ``application``.

    With ``close_application`` the app closes it on shutdown (when the app owns it, as the
    server's does); otherwise the caller does. With ``settings.relay_in_process`` the PSA
    delivery relay runs while the app serves.
    """
    streams = ReplyStreams()
    gate = IdempotencyGate(
        application.idempotency,
        application.clock,
        lease=timedelta(seconds=application.settings.idempotency_lease_seconds),
    )
    key_management = application.key_management
    session_deliveries = application.session_deliveries
    probe = HealthProbe(application.storage.database, application.settings.chosen_llm())

    relay = InProcessRelay(application.relay()) if application.settings.relay_in_process else None

    def provide_turn(request: Request[Actor, Any, Any]) -> TurnContext:
        return TurnContext(request.user, application.sessions, gate)

    async def on_startup() -> None:
        if relay is not None:
            await relay.start()

    async def on_shutdown() -> None:
        await streams.wait(STREAM_GRACE_SECONDS)
        if relay is not None:
            await relay.stop(RELAY_GRACE_SECONDS)
        if close_application:
            await application.close()

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            SessionController,
            ConversationController,
            LifecycleController,
            DashboardController,
            LegacyAssistantController,
            KeyController,
            PSAConnectionController,
            DeliveryController,
        ],
    )
    app = Litestar(
        route_handlers=[
            api,
            health,
            create_static_files_router(
                path=SWAGGER_UI,
                directories=[Path(str(files("resolutionflow_api") / "static" / "swagger-ui"))],
                include_in_schema=False,
            ),
        ],
        dependencies={
            "actor": Provide(provide_actor, sync_to_thread=False),
            "sessions": Provide(lambda: application.sessions, sync_to_thread=False),
            "key_management": Provide(lambda: key_management, sync_to_thread=False),
            "idempotency": Provide(lambda: gate, sync_to_thread=False),
            "turn": Provide(provide_turn, sync_to_thread=False),
            "streams": Provide(lambda: streams, sync_to_thread=False),
            "health_probe": Provide(lambda: probe, sync_to_thread=False),
            # Per request: an application given fixed PSA connections (a test's) has none to
            # manage, and says so (ConnectionsNotManaged) only when asked to.
            "connection_management": Provide(
                lambda: application.connection_management, sync_to_thread=False
            ),
            "session_deliveries": Provide(lambda: session_deliveries, sync_to_thread=False),
        },
        middleware=[
            RequestDeadline(application.settings.request_timeout),
            bearer_authentication(application.keys, exclude=[f"^{SCHEMA_PATH}"]),
        ],
        plugins=[problem_details_plugin()],
        request_max_body_size=application.settings.max_request_bytes,
        openapi_config=_openapi(),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        before_send=[deprecation_headers, safety_headers],
    )
    # Built now, refined once: the document served is the one with the server's own rules.
    openapi: Any = app.plugins.get("OpenAPIPlugin")  # Litestar's own, not exported
    refine(openapi.provide_openapi_schema())
    return app


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="ResolutionFlow API",
        version=_version(),
        description=(
            "Guided and chat troubleshooting sessions for MSP engineers: one lifecycle, "
            "documentation into the PSA ticket. Every route but `/health` and this schema "
            "needs `Authorization: Bearer <key>`. Errors are RFC 9457 problem details."
        ),
        path=SCHEMA_PATH,
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER_UI}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
                favicon="",
            )
        ],
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key: `rf_<prefix>_<secret>`.",
                )
            }
        ),
        security=[{SECURITY_SCHEME: []}],
        tags=[
            Tag(name="Sessions", description="Start, list and read sessions of both kinds."),
            Tag(name="Conversation", description="Chat messages and guided steps."),
            Tag(name="Lifecycle", description="Pause, resume, resolve, escalate, claim, abandon."),
            Tag(
                name="Legacy assistant (deprecated)",
                description="The old assistant-chat endpoints, served from chat sessions.",
            ),
            Tag(name="API keys", description="Owners and admins manage the account's keys."),
            Tag(
                name="PSA connection",
                description="Owners and admins connect the account's PSA (secrets are never "
                "returned) and retry a session's failed note deliveries.",
            ),
            Tag(name="Health", description="For load balancers; no key needed."),
        ],
        use_handler_docstrings=False,
        operation_id_creator=_operation_id,
    )


def _operation_id(handler: HTTPRouteHandler, _method: object, _path: object) -> str:
    """``createSession``, ``listSessions``...: the handler's name (each is unique)."""
    first, *rest = handler.handler_name.split("_")
    return first + "".join(word.title() for word in rest)


def _version() -> str:
    try:
        return version("resolutionflow")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"

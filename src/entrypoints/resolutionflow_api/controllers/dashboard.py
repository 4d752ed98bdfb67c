"""``/dashboard``: what an engineer sees first, both kinds of session together."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from resolutionflow_api.problems import problems
from resolutionflow_api.responses import DashboardRead, dashboard_read
from resolutionflow_core.access import Actor
from resolutionflow_core.services import SessionService


class DashboardController(Controller):
    path = "/dashboard"
    tags = ("Sessions",)

    @get(
        "/",
        summary="Active, escalated and recent sessions",
        description="Engineers see their own (and every escalation waiting for a claim); "
        "owners, admins and viewers see the whole account.",
        responses=problems(422),
    )
    async def dashboard(
        self,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        limit: Annotated[int, QueryParameter(ge=1, le=50, description="Rows per list.")] = 10,
    ) -> DashboardRead:
        return dashboard_read(await sessions.dashboard(actor, limit=limit))

"""``/health``: served without a key, for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from litestar import get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response

from resolutionflow_api.auth import EXCLUDE_FROM_AUTH
from resolutionflow_sqlalchemy.engine import Database

PROBE_TIMEOUT = 3.0
"""Seconds the database has to answer before it counts as unreachable."""


class HealthRead(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: str
    """``ok``; ``busy`` when writes wait for the database (it still answers reads); or
    ``unavailable`` (503) when the database cannot be reached."""
    database: str
    """``reachable``, ``busy`` or ``unreachable``."""
    llm: str
    """Which LLM answers: ``offline`` or ``anthropic``."""


@dataclass(frozen=True)
class HealthProbe:
    database: Database
    llm: str

    async def database_state(self) -> str:
        """``reachable``, ``busy`` (answers reads, writes wait their turn) or ``unreachable``."""
        try:
            await asyncio.wait_for(
                self.database.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar()),
                PROBE_TIMEOUT,
            )
        except Exception:  # any failure means "not usable now", which is what health reports
            return "unreachable"
        return "busy" if self.database.busy() else "reachable"


@get(
    "/health",
    summary="Health",
    description="No key needed. 200 when the database answers (`busy` when writes are "
    "waiting for it), else 503.",
    tags=["Health"],
    opt={EXCLUDE_FROM_AUTH: True},
    security=[{}],
    responses={
        503: ResponseSpec(
            data_container=HealthRead,
            description="The database cannot be reached",
            generate_examples=False,
        )
    },
)
async def health(health_probe: NamedDependency[HealthProbe]) -> Response[HealthRead]:
    state = await health_probe.database_state()
    status = {"reachable": "ok", "busy": "busy"}.get(state, "unavailable")
    body = HealthRead(status=status, database=state, llm=health_probe.llm)
    return Response(body, status_code=503 if state == "unreachable" else 200)

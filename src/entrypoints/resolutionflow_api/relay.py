"""The PSA delivery relay, run inside the API process while it serves (``relay_in_process``).

Notes due on PSA tickets (resolution notes, escalation packages, ticket-note updates) are
written with the change that makes them due; the relay posts them. Several workers may each
run one: the queue leases every delivery to one relay at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from resolutionflow_core.delivery import DeliveryRelay

logger = logging.getLogger("resolutionflow_api")

RESTART_AFTER = 5.0
"""Seconds before a relay that failed (a database hiccup) starts again."""


@dataclass
class InProcessRelay:
    relay: DeliveryRelay
    interval: float = 2.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self, grace: float) -> None:
        """Ask the relay to stop after the delivery in hand; cancel it after ``grace``."""
        self._stop.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.relay.run(self._stop, interval=self.interval)
            except Exception:  # keep delivering: a failed pass is logged and retried
                logger.exception("the PSA delivery relay failed; restarting it")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), RESTART_AFTER)

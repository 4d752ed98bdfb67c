"""Racing writes leave the search index equal to a rebuild from the sessions.

Chat turns race on one session and across several, from separate engines (so separate
connections), with guided answers and resolutions in between; afterwards the index is what
`reindex` would make, and each turn's word finds its session.
"""

from __future__ import annotations

import asyncio

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.search import search_query
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import IntakeType
from resolutionflow_memory import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.search import SqlSessionSearch, check_index

ALICE = Actor("acme", "alice", Role.OWNER)
WRITERS = 16


async def test_racing_turns_leave_the_index_equal_to_a_rebuild(database_url: str) -> None:
    first = SqlStorage.from_url(database_url)
    service = SessionService(uow=first.unit_of_work, llm=OfflineLLM())
    hot = (await service.start_chat(ALICE, "Share is read-only for finance")).session.id
    others = [
        (await service.start_chat(ALICE, f"Laptop {n} cannot reach the intranet")).session.id
        for n in range(3)
    ]
    guided = await service.start_guided(ALICE, IntakeType.FREE_TEXT, {"text": "Printer offline"})
    closing = (await service.start_chat(ALICE, "Wifi drops in room 4")).session.id
    writers = [SqlStorage.from_url(database_url, pool_size=1) for _ in range(WRITERS)]
    try:

        async def turn(n: int, storage: SqlStorage) -> None:
            racing = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
            target = hot if n % 2 == 0 else others[n % len(others)]
            await racing.send_message(ALICE, target, f"observation zq{n}x on host {n}")
            if n == 5:
                await racing.answer_step(ALICE, guided.id, f"answer zq{n}x: jammed tray")
            if n == 7:
                await racing.resolve(ALICE, closing, f"resolved zq{n}x by replacing the NIC")

        await asyncio.gather(*(turn(n, storage) for n, storage in enumerate(writers)))
    finally:
        for storage in writers:
            await storage.dispose()

    check = await first.database.read(check_index)
    search = SqlSessionSearch(first.database)
    found = {
        n: [hit.summary.id for hit in (await search.search(search_query(ALICE, f"zq{n}x"))).items]
        for n in range(WRITERS)
    }
    await first.dispose()

    assert check.clean, check
    assert check.indexed == check.sessions == 6
    for n in range(WRITERS):
        expected = {hot} if n % 2 == 0 else {others[n % len(others)]}
        if n == 5:
            expected.add(guided.id)
        if n == 7:
            expected.add(closing)
        assert set(found[n]) == expected, (n, found[n])

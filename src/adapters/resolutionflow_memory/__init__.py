"""In-memory adapters for resolutionflow_core: storage, an offline LLM and a PSA.

Shipped code for demos, tests and embedding. The storage behaves like the SQL adapter
(optimistic concurrency: a stale write raises `StaleSession`); the offline LLM is
deterministic, needs no network and labels what it writes as offline.
"""

from resolutionflow_memory.llm import OfflineLLM
from resolutionflow_memory.psa import InMemoryPSA, InMemoryPSAConnections
from resolutionflow_memory.storage import (
    InMemorySessionRepository,
    InMemoryStorage,
    InMemoryUnitOfWork,
)

__all__ = [
    "InMemoryPSA",
    "InMemoryPSAConnections",
    "InMemorySessionRepository",
    "InMemoryStorage",
    "InMemoryUnitOfWork",
    "OfflineLLM",
]

"""Clients sending chat messages, each with its own Idempotency-Key, retrying 503s and lost
connections with the same key like a careful client; what was acknowledged (200) is kept
to check against the database afterwards."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class Sent:
    key: str
    content: str
    acknowledged: bool = False


@dataclass
class ChatLoad:
    base_url: str
    authorization: dict[str, str]
    clients: int = 6
    statuses: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    sent: dict[str, list[Sent]] = field(default_factory=dict)
    """Per chat session id, the messages sent to it, in order."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ChatLoad:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            for index in range(self.clients):
                created = client.post(
                    "/api/v1/ai-sessions",
                    json={"session_type": "chat", "message": f"load client {index}"},
                    headers=self.authorization,
                )
                assert created.status_code == 201, created.text
                self.sent[created.json()["id"]] = []
        for session_id in self.sent:
            thread = threading.Thread(target=self._run, args=(session_id,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def in_flight(self) -> list[Sent]:
        """Each client's message not acknowledged yet (the one it is sending, or retrying)."""
        with self._lock:
            last = [sent[-1] for sent in self.sent.values() if sent]
        return [message for message in last if not message.acknowledged]

    def count(self, status: str) -> int:
        with self._lock:
            return self.statuses[status]

    def _note(self, status: str, seconds: float) -> None:
        with self._lock:
            self.statuses[status] += 1
            self.slowest = max(self.slowest, seconds)

    def _run(self, session_id: str) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            number = 0
            while not self._stop.is_set():
                number += 1
                sent = Sent(str(uuid.uuid4()), f"{session_id[:8]} message {number}")
                self.sent[session_id].append(sent)
                self._deliver(client, session_id, sent)

    def _deliver(self, client: httpx.Client, session_id: str, sent: Sent) -> None:
        """Until acknowledged, or the load stops (then the message may or may not be in)."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                response = client.post(
                    f"/api/v1/ai-sessions/{session_id}/chat",
                    json={"content": sent.content},
                    headers=self.authorization | {"Idempotency-Key": sent.key},
                )
            except httpx.TransportError as error:
                self._note(type(error).__name__, time.monotonic() - started)
                time.sleep(0.2)
                continue
            code = ""
            if response.headers.get("content-type", "").startswith("application/problem"):
                code = " " + str(response.json().get("code"))
            self._note(f"{response.status_code}{code}", time.monotonic() - started)
            if response.status_code == 200:
                sent.acknowledged = True
                return
            if response.status_code == 503 or code == " idempotency_key_in_use":
                time.sleep(min(float(response.headers.get("retry-after", "1")), 1.0) / 4)
                continue
            return  # anything else is a failure the test reports from the statuses


def check_integrity(base_url: str, authorization: dict[str, str], load: ChatLoad) -> list[str]:
    """What is wrong: an acknowledged message missing, or any message stored twice."""
    problems = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for session_id, sent in load.sent.items():
            read = client.get(f"/api/v1/ai-sessions/{session_id}", headers=authorization)
            assert read.status_code == 200, read.text
            stored = Counter(m["content"] for m in read.json()["messages"] if m["role"] == "user")
            for message in sent:
                if message.acknowledged and stored[message.content] != 1:
                    problems.append(
                        f"{message.content!r} acknowledged, stored {stored[message.content]}x"
                    )
                elif stored[message.content] > 1:
                    problems.append(f"{message.content!r} stored {stored[message.content]}x")
    return problems

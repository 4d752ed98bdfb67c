"""Reading form fields: a missing or blank required field is the domain's `InvalidInput`."""

from __future__ import annotations

from typing import Any

from litestar import Request

from resolutionflow_core.errors import InvalidInput


class Form:
    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    @classmethod
    async def of(cls, request: Request[Any, Any, Any]) -> Form:
        form = await request.form()
        return cls({key: value for key, value in form.items() if isinstance(value, str)})

    def required(self, name: str) -> str:
        value = self._values.get(name, "")
        if not value.strip():
            raise InvalidInput(name, "must not be empty")
        return value

    def optional(self, name: str) -> str | None:
        value = self._values.get(name, "").strip()
        return value or None

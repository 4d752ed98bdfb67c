"""Rows read back as the core's records: each field from the column of the same name."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def from_row(record: type[R], row: Any, **stored_otherwise: Any) -> R:
    """``record`` (a dataclass) with each field read from ``row``'s column of that name,
    but for ``stored_otherwise``: the fields whose columns hold another form (an enum's
    value, a nested record's parts), already converted by the caller."""
    fields = {
        field.name: getattr(row, field.name)
        for field in dataclasses.fields(record)
        if field.init and field.name not in stored_otherwise
    }
    return record(**fields, **stored_otherwise)

"""The core's records as rows and back: each field to and from the column of the same name."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

from resolutionflow_core.access import Actor, Role

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


def to_row(
    record: DataclassInstance, *, without: tuple[str, ...] = (), **stored_otherwise: Any
) -> dict[str, Any]:
    """The columns of ``record`` (a dataclass): each field under its own name, but for
    ``stored_otherwise``, columns the caller gives in their stored form (an enum's value),
    and ``without``, fields not stored under their name (a nested record, whose columns
    come in ``stored_otherwise``)."""
    columns = {
        field.name: getattr(record, field.name)
        for field in dataclasses.fields(record)
        if field.name not in without
    }
    return columns | stored_otherwise


def actor_columns(actor: Actor) -> dict[str, str]:
    """The ``account_id``, ``user_id`` and ``role`` columns of a row acting as ``actor``."""
    return {"account_id": actor.account_id, "user_id": actor.user_id, "role": actor.role.value}


def actor_of(row: Any) -> Actor:
    """The actor of a row with ``account_id``, ``user_id`` and ``role`` columns."""
    return Actor(row.account_id, row.user_id, Role(row.role))

"""`read_models.read`: a struct filled from the attributes of the same names."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from resolutionflow_app.read_models import Struct, read


class Shown(Struct):
    name: str
    owner_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    user_id: str


@dataclass(frozen=True, slots=True)
class NotedRow:
    name: str
    owner_id: str
    note: str


def test_fields_are_read_by_name_and_given_values_fill_the_rest() -> None:
    shown = read(Shown, Row("Printer", "alice"), owner_id="alice")
    assert shown == Shown(name="Printer", owner_id="alice", note=None)


def test_each_source_type_is_read_for_the_fields_it_has() -> None:
    read(Shown, Row("first", "a"), owner_id="a")  # cached for Row, without `note`
    assert read(Shown, NotedRow("VPN", "bob", "on site")) == Shown(
        name="VPN", owner_id="bob", note="on site"
    )
    assert read(Shown, Row("again", "c"), owner_id="c").note is None


def test_given_values_win_over_the_attributes() -> None:
    shown = read(Shown, NotedRow("VPN", "bob", "on site"), note="overridden")
    assert shown.note == "overridden"


def test_a_required_field_the_source_lacks_is_an_error_not_a_blank() -> None:
    with pytest.raises(TypeError, match="owner_id"):
        read(Shown, Row("Printer", "alice"))

"""`resolutionflow_core`'s names are imported on first use: every name of ``__all__`` is
there (the same object as in its module), and importing one module of the core loads
that module, not the services, the aggregate and its events."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import resolutionflow_core


def _checked_imports() -> dict[str, str]:
    """The names the package imports for type checkers, and their modules."""
    tree = ast.parse(Path(resolutionflow_core.__file__).read_text())
    checked = next(node for node in tree.body if isinstance(node, ast.If))
    return {
        alias.name: node.module.rpartition(".")[2]
        for node in checked.body
        if isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names
    }


def loaded_by(statements: str) -> set[str]:
    """The project's modules a fresh interpreter has loaded after running ``statements``."""
    probe = (
        f"import json, sys; {statements};"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('resolutionflow'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def test_every_exported_name_is_its_modules_object() -> None:
    homes = resolutionflow_core._HOMES
    assert set(homes) == set(resolutionflow_core.__all__) - {"__version__"}
    assert _checked_imports() == homes  # type checkers see the same names, from the same modules
    for name, home in homes.items():
        module = importlib.import_module(f"resolutionflow_core.{home}")
        assert getattr(resolutionflow_core, name) is getattr(module, name), name
    assert set(resolutionflow_core.__all__) <= set(dir(resolutionflow_core))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        resolutionflow_core.Nothing  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError):
        exec("from resolutionflow_core import Nothing")


@pytest.mark.process
def test_importing_the_errors_loads_no_other_module_of_the_core() -> None:
    loaded = loaded_by("from resolutionflow_core.errors import InvalidInput")
    assert loaded == {"resolutionflow_core", "resolutionflow_core.errors"}


@pytest.mark.process
def test_a_name_from_the_package_loads_its_module_and_what_that_imports() -> None:
    loaded = loaded_by("from resolutionflow_core import SessionStatus")
    assert "resolutionflow_core.lifecycle" in loaded
    assert loaded.isdisjoint({"resolutionflow_core.services", "resolutionflow_core.session"})


@pytest.mark.process
def test_a_module_of_the_core_is_an_attribute_of_the_package_as_before() -> None:
    """``import resolutionflow_core`` then ``resolutionflow_core.errors.X`` worked while the
    package imported every module; it still does, loading that module on first use."""
    loaded = loaded_by(
        "import resolutionflow_core as core;"
        "assert core.errors.InvalidInput is core.InvalidInput;"
        "assert core.lifecycle is sys.modules['resolutionflow_core.lifecycle']"
    )
    assert {"resolutionflow_core.errors", "resolutionflow_core.lifecycle"} <= loaded
    assert "resolutionflow_core.services" not in loaded
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        resolutionflow_core.nothing_here  # type: ignore[attr-defined]  # noqa: B018


AGGREGATE = (
    "resolutionflow_core.session",
    "resolutionflow_core.events",
    "resolutionflow_core.documentation",
    "resolutionflow_core.markers",
)
"""The aggregate, the events it records and the notes it writes: what a read needs not load."""


@pytest.mark.process
@pytest.mark.parametrize(
    "statement",
    [
        "from resolutionflow_core.listing import SessionPage, SessionSummary, history_query",
        "from resolutionflow_core.ports import SessionRepository, UnitOfWork, LLM",
        "from resolutionflow_core.search import SearchPage, search_query",
        "from resolutionflow_core.kinds import IntakeType, ProblemDomain, SessionType",
    ],
)
def test_the_read_models_ports_and_kinds_load_without_the_aggregate(statement: str) -> None:
    """The history's rows, the search's hits, the ports and the enums name the aggregate for
    type checkers only: a read that imports them does not build the session's classes."""
    loaded = loaded_by(statement)
    assert loaded.isdisjoint(AGGREGATE), sorted(loaded.intersection(AGGREGATE))


def test_the_kinds_are_the_aggregates_own() -> None:
    """`IntakeType` and `ProblemDomain` moved to the leaf module `kinds`, as `SessionType`
    did: the aggregate's names for them are the same objects."""
    from resolutionflow_core import kinds, session

    assert session.IntakeType is kinds.IntakeType
    assert session.ProblemDomain is kinds.ProblemDomain
    assert session.SessionType is kinds.SessionType

"""Every error means the same on every face: its category decides the API's status, the
CLI's exit code, whether the idempotency layer completes the turn on a retry or replays
the refusal, and the web page's status.

The errors are found, not listed: every subclass of `DomainError` in the core and in the
adapters (imported here so that their classes exist), so a new error cannot go unmapped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

import resolutionflow_anthropic
import resolutionflow_app.psa
import resolutionflow_memory.psa
import resolutionflow_psa.errors
import resolutionflow_sqlalchemy
from resolutionflow_api.idempotency import unfinished_turn
from resolutionflow_api.problems import interrupted_turn, problem_for
from resolutionflow_app.connections import ConnectionsNotManaged
from resolutionflow_cli.errors import ExitCode, refusal
from resolutionflow_core import errors
from resolutionflow_core.errors import (
    CATEGORIES,
    FAMILIES,
    DomainError,
    LLMError,
    category_of,
)
from resolutionflow_core.idempotency import StoredResponse
from resolutionflow_web.errors import status_of
from tests.unit.test_error_messages import SAMPLES

ADAPTERS = (
    resolutionflow_anthropic,
    resolutionflow_app.psa,
    resolutionflow_memory.psa,
    resolutionflow_psa.errors,
    resolutionflow_sqlalchemy,
)
SID = uuid.UUID(int=11)


@dataclass(frozen=True)
class Meaning:
    api: int
    cli: ExitCode
    resumed: bool
    """After the input was saved, a retry with the same Idempotency-Key completes the turn
    (True) or replays the stored refusal (False). Before that, every failure frees the key."""
    web: int


MEANINGS: dict[type[DomainError], Meaning] = {
    errors.InvalidInput: Meaning(422, ExitCode.REFUSED, resumed=False, web=400),
    errors.NotFound: Meaning(404, ExitCode.NOT_FOUND, resumed=False, web=404),
    errors.NotAllowed: Meaning(403, ExitCode.REFUSED, resumed=False, web=403),
    errors.Conflict: Meaning(409, ExitCode.REFUSED, resumed=False, web=409),
    errors.NotSetUp: Meaning(409, ExitCode.USAGE, resumed=False, web=409),
    errors.Misconfigured: Meaning(422, ExitCode.USAGE, resumed=False, web=422),
    errors.ProviderRejected: Meaning(502, ExitCode.USAGE, resumed=True, web=502),
    errors.UnusableAnswer: Meaning(502, ExitCode.UNAVAILABLE, resumed=True, web=502),
    errors.Unavailable: Meaning(503, ExitCode.UNAVAILABLE, resumed=True, web=503),
}

ARGUMENTS: dict[type[DomainError], tuple[object, ...]] = {
    **SAMPLES,
    resolutionflow_psa.errors.UnknownStatus: ("connectwise", "T-1", "Done", ["Open"]),
    resolutionflow_psa.errors.StatusChangeIgnored: ("connectwise", "T-1", "Closed", "Open"),
    resolutionflow_psa.errors.PSASettingInvalid: ("site", "the site must be a host name"),
    ConnectionsNotManaged: (),
}


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found: list[type[DomainError]] = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith(("resolutionflow_", "resolutionflow")):
            found += [sub, *_subclasses(sub)]
    return found


ERRORS = sorted(
    {e for e in _subclasses(DomainError) if e not in CATEGORIES and e not in FAMILIES},
    key=lambda e: (e.__module__, e.__name__),
)


def _sample(kind: type[DomainError]) -> DomainError:
    error = kind(*ARGUMENTS.get(kind, (f"{kind.__name__} happened",)))  # type: ignore[arg-type]
    return error.saved_in(SID) if isinstance(error, LLMError) else error


def test_the_walk_finds_the_adapters_errors() -> None:
    names = {e.__name__ for e in ERRORS}
    assert {
        "LLMRequestRejected",
        "AnthropicConfigurationError",
        "PSAHostRefused",
        "PSAAuthenticationFailed",
        "PSARateLimited",
        "CredentialsLocked",
        "InjectedPSAFailure",
        "SessionNotFound",
    } <= names
    assert len(ADAPTERS) == 5


@pytest.mark.parametrize("kind", ERRORS, ids=lambda e: e.__name__)
def test_every_error_has_exactly_one_category(kind: type[DomainError]) -> None:
    in_hierarchy = [c for c in CATEGORIES if issubclass(kind, c)]
    # UnusableAnswer is a kind of Unavailable: the most specific one counts.
    outermost = [
        c for c in in_hierarchy if not any(o is not c and issubclass(o, c) for o in in_hierarchy)
    ]
    assert len(outermost) == 1, f"{kind.__name__} is in {outermost}"
    assert category_of(kind) is outermost[0]


@pytest.mark.parametrize("kind", ERRORS, ids=lambda e: e.__name__)
def test_every_face_agrees_on_what_an_error_means(kind: type[DomainError]) -> None:
    error = _sample(kind)
    category = category_of(error)
    assert category is not None
    meaning = MEANINGS[category]

    problem = problem_for(error)
    expected_status = meaning.api
    if isinstance(error, errors.ContentTooLarge):
        expected_status = 413
    if isinstance(error, errors.NotFound) and error.field is not None:
        expected_status = 422  # a missing thing named in the body, not in the address
        assert problem.body("/x")["errors"][0]["field"] == error.field
    assert (problem.status_code, problem.code) == (expected_status, error.code)
    retry_after = (problem.headers or {}).get("Retry-After")
    assert (retry_after is not None) is (expected_status == 503)

    assert refusal(error) == (meaning.cli, " ".join(error.message.split()))

    stored = interrupted_turn(error, str(SID))
    replay = StoredResponse(stored.status_code, stored.body("/x"))
    assert (unfinished_turn(replay) == SID) is meaning.resumed

    assert status_of(error) == meaning.web


def test_a_bare_family_error_counts_as_an_unusable_answer() -> None:
    assert category_of(errors.PSAError("the PSA failed")) is errors.UnusableAnswer
    assert problem_for(errors.LLMError("odd")).status_code == 502
    assert refusal(errors.PSAError("the PSA failed")) == (ExitCode.UNAVAILABLE, "the PSA failed")


def test_the_named_defects_stay_fixed() -> None:
    rejected = resolutionflow_anthropic.LLMRequestRejected("Anthropic refused the API key")
    assert refusal(rejected) == (ExitCode.USAGE, "Anthropic refused the API key")
    saved = problem_for(rejected.saved_in(SID))
    assert saved.status_code == 502
    assert "once an operator has fixed the cause" in saved.detail
    for kind in (
        resolutionflow_psa.errors.PSAHostRefused,
        resolutionflow_psa.errors.PSAAuthenticationFailed,
    ):
        error = kind("refused")
        assert problem_for(error).status_code == 422
        assert refusal(error) == (ExitCode.USAGE, "refused")


def test_the_table() -> None:
    """The table of meanings, as docs/architecture.md shows it."""
    rows = {c.__name__: (m.api, int(m.cli), m.resumed, m.web) for c, m in MEANINGS.items()}
    assert rows == {
        "InvalidInput": (422, 1, False, 400),
        "NotFound": (404, 3, False, 404),
        "NotAllowed": (403, 1, False, 403),
        "Conflict": (409, 1, False, 409),
        "NotSetUp": (409, 2, False, 409),
        "Misconfigured": (422, 2, False, 422),
        "ProviderRejected": (502, 2, True, 502),
        "UnusableAnswer": (502, 4, True, 502),
        "Unavailable": (503, 4, True, 503),
    }
    assert set(MEANINGS) == set(CATEGORIES)

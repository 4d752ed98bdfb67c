"""The HTTP status of each error category, shared by the API and the web pages.

Both answer a refusal with the status its category (`resolutionflow_core.errors`) means; each
adds its own status for an error outside the categories, and the web pages one refinement
(invalid input is a form to correct, 400, not an API schema's 422).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from resolutionflow_core import errors

STATUS_OF_CATEGORY: Final[Mapping[type[errors.DomainError] | None, int]] = MappingProxyType(
    {
        errors.InvalidInput: 422,
        errors.NotFound: 404,
        errors.NotAllowed: 403,
        errors.Conflict: 409,
        errors.NotSetUp: 409,
        errors.Misconfigured: 422,
        errors.ProviderRejected: 502,
        errors.UnusableAnswer: 502,
        errors.Unavailable: 503,
    }
)
"""Each entrypoint adds the status of an error outside the categories (the key ``None``)."""

"""Error classes of an attempt, and the errors that make a sheet fail at once.

An attempt that goes wrong is tagged with one ``ErrorClass``; the attempt loop decides from
it whether to retry::

    FATAL        never retried: the backend cannot start (missing executable or API key),
                 authentication failed, or the score cannot be used (template, placeholder)
    TIMEOUT      the run outlived its timeout and was stopped: retried
    RATE_LIMIT   the output matched a rate-limit pattern: waited out, no retry used
    BACKEND      the backend failed (exit status, HTTP error, unreadable reply): retried
    VALIDATION   the run ended but validations failed: retried or completed
"""

from __future__ import annotations

import re
from enum import StrEnum


class ErrorClass(StrEnum):
    FATAL = "fatal"
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"
    BACKEND = "backend"
    VALIDATION = "validation"
    CANCELLED = "cancelled"


class FatalSheetError(Exception):
    """The sheet cannot run at all; the message says why (and never holds a secret)."""


class BackendStartError(FatalSheetError):
    """The backend cannot start: missing executable, missing API key, bad working directory."""


# Authentication failures of the claude CLI and the HTTP APIs: retrying cannot help.
AUTH_FAILURE = re.compile(
    r"invalid[ _-]?api[ _-]?key|authentication[ _-]?(?:error|failed)|"
    r"oauth token has expired|please run /login|not logged in|\bunauthori[sz]ed\b",
    re.IGNORECASE,
)


def looks_like_auth_failure(text: str) -> bool:
    return AUTH_FAILURE.search(text) is not None

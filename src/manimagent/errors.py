"""The error hierarchy: every expected failure carries its CLI exit code and HTTP status.

Core code raises these; `cli/` turns them into a one-line message and an exit code,
`server/` into a JSON body and a status. Nothing below the adapters prints or exits.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    ENVIRONMENT = 3
    INTERRUPTED = 130


class ManimagentError(Exception):
    """Base of every expected failure. `hint` says how to fix it."""

    exit_code: ExitCode = ExitCode.FAILED
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None, details: object = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else f"{text}."


class BadInput(ManimagentError):
    """The user gave something unusable: option value, file, prompt."""

    exit_code = ExitCode.BAD_INPUT
    http_status = 400


class InvalidScript(BadInput):
    """A file or reply that is not a Manim script (empty, binary, syntax error, no Scene)."""

    http_status = 422


class NotFound(BadInput):
    """No object with that id or name (also what other users' objects look like)."""

    http_status = 404


class AmbiguousId(BadInput):
    """An id prefix matching several objects."""


class Conflict(BadInput):
    """A name that is already taken."""

    http_status = 409


class Unauthorized(ManimagentError):
    """Missing, invalid or expired credentials."""

    exit_code = ExitCode.ENVIRONMENT
    http_status = 401


class Forbidden(ManimagentError):
    """Authenticated but not allowed (admin-only actions, unverified email)."""

    exit_code = ExitCode.BAD_INPUT
    http_status = 403


class RateLimited(ManimagentError):
    """Too many attempts in a short time."""

    exit_code = ExitCode.FAILED
    http_status = 429


class ConfigError(ManimagentError):
    """Missing environment or configuration: a key, a backend, a setting."""

    exit_code = ExitCode.ENVIRONMENT
    http_status = 503


class DockerUnavailable(ConfigError):
    """The Docker engine cannot be reached."""


class ImageMissing(ConfigError):
    """The render image is not present on the Docker engine."""


class DockerFailed(ManimagentError):
    """The Docker engine refused or failed an operation (an upstream failure: 502)."""

    exit_code = ExitCode.FAILED
    http_status = 502


class MediaFailed(ManimagentError):
    """A rendered video or image could not be processed: scenes joined, a still made a video,
    a poster or preview drawn (render/combine.py, render/poster.py)."""

    exit_code = ExitCode.FAILED
    http_status = 422


class ProviderError(ManimagentError):
    """An LLM call failed. `kind` is auth, rate_limit, server, timeout, bad_request or reply."""

    exit_code = ExitCode.FAILED
    http_status = 502

    def __init__(self, message: str, *, kind: str, provider: str = "", hint: str | None = None):
        super().__init__(message, hint=hint)
        self.kind = kind
        self.provider = provider

    @property
    def falls_through(self) -> bool:
        """Whether automatic selection should try the next provider after this error."""
        return self.kind in {"auth", "rate_limit", "server", "timeout", "connection"}


class AllProvidersFailed(ManimagentError):
    """Every candidate provider failed."""

    exit_code = ExitCode.FAILED
    http_status = 502


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or a batch's interrupt) stopped a render; `execution_id`: its attempt's row, settled
    as `interrupted`, when that row had been written. Caught wherever KeyboardInterrupt is."""

    def __init__(self, execution_id: str | None = None):
        super().__init__()
        self.execution_id = execution_id

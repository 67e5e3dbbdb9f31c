"""The one place a command gets its backend: this machine's store, or the server of --server /
MANIMAGENT_SERVER. Both satisfy `backends.protocols.Backend`, which mypy checks here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from manimagent.backends.local import LocalBackend
    from manimagent.backends.protocols import Backend
    from manimagent.events import EventSink


def backend_for(server: str | None, events: EventSink | None = None) -> Backend:
    """The backend of a command: `RemoteBackend` when --server or MANIMAGENT_SERVER names a server
    (a malformed URL is bad input), else `LocalBackend`. `events` receives its progress."""
    from manimagent.events import ignore
    from manimagent.settings import resolve_server

    resolved = resolve_server(server)
    if resolved is None:  # the local store: the client (and its imports) are not needed
        return local_backend(events)
    from manimagent.backends.remote import RemoteBackend

    return RemoteBackend(resolved, events=events or ignore)


def local_backend(events: EventSink | None = None) -> LocalBackend:
    """This machine's store whatever MANIMAGENT_SERVER says, with the CLI's local login."""
    from manimagent.backends.local import LocalBackend
    from manimagent.cli.local_auth import LocalAuth
    from manimagent.context import local_context
    from manimagent.events import ignore

    ctx = local_context(events or ignore)
    return LocalBackend(ctx, auth=LocalAuth(ctx))


def machine_backend(server: str | None, operation: str) -> LocalBackend:
    """For an `operation` that changes this machine's configuration (providers, containers): the
    local backend; with a server, RemoteBackend's one-line refusal, before anything is asked for."""
    from manimagent.settings import resolve_server

    if resolve_server(server) is not None:
        from manimagent.backends.remote import refused_through_server

        refused_through_server(operation)
    return local_backend()

"""The context every service function takes: settings, who is asking, where events go."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlmodel import Session

from manimagent.events import EventSink, ignore
from manimagent.settings import Settings, load_settings
from manimagent.store.db import open_session


@dataclass
class Context:
    settings: Settings
    user_id: int | None = None  # None: the local CLI, which sees every row
    is_admin: bool = True
    events: EventSink = field(default=ignore)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with open_session(self.settings.database_url_effective) as session:
            yield session

    def owns(self, owner_id: int | None) -> bool:
        return self.user_id is None or owner_id == self.user_id


def local_context(events: EventSink = ignore) -> Context:
    """The context of a local CLI command: current settings, no user."""
    settings = load_settings()
    settings.paths.ensure()
    return Context(settings=settings, events=events)

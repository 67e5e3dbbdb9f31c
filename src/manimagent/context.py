"""The context every service function takes: settings, who is asking, where events go.

Light on purpose: the database layer (SQLModel) is imported on first use, so a render can be
started before it loads (see pipeline.run_attempts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from manimagent.events import EventSink, ignore
from manimagent.paths import cache_dir
from manimagent.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlmodel import Session


@dataclass(kw_only=True)
class Context:
    """Every construction says who asks: `user_id` (None: the local CLI or the server itself, which
    see every row; store/owned.py) and `is_admin`, which has no default."""

    settings: Settings
    is_admin: bool
    user_id: int | None = None
    events: EventSink = field(default=ignore)
    # a `manimagent worker`'s: sends a finished render's files to the server before its row says
    # so, and answers the paths they have there (see server/queue_job.py)
    media_sink: Callable[[list[Path], Path], tuple[list[Path], Path]] | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        from manimagent.store.db import open_session

        with open_session(self.settings.database_url_effective) as session:
            yield session

    def manim_names(self) -> frozenset[str]:
        """What `from manim import *` defines for the installed manim (cached per version)."""
        from manimagent.scriptcheck.names import manim_names

        return manim_names(cache_dir(self.settings.paths))


def local_context(events: EventSink = ignore) -> Context:
    """The context of a local CLI command: current settings, no user; the owner of the home is its admin."""
    settings = load_settings()
    settings.paths.ensure()
    return Context(settings=settings, is_admin=True, events=events)

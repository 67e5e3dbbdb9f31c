"""One render attempt as a job: started at once when the engine can, so the caller's bookkeeping
(database rows, imports) overlaps the render instead of preceding it."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from manimagent.render.base import ProgressSink, RenderEngine, RenderRequest, RenderResult


class RenderJob:
    def __init__(
        self,
        engine: RenderEngine,
        request: RenderRequest,
        staging_root: Path,
        on_progress: ProgressSink | None = None,
        *,
        folder: Path | None = None,
    ):
        """`folder`: where the engine leaves the files (default: a new `job-*` under `staging_root`)."""
        self.engine = engine
        self.request = request
        self.on_progress = on_progress
        self.staging = folder or staging_root / f"job-{uuid.uuid4().hex}"
        self.handle = engine.start(request, self.staging, on_progress) if hasattr(engine, "start") else None

    def wait(self) -> RenderResult:
        try:
            if self.handle is not None:
                return self.handle.wait()
            return self.engine.render(self.request, self.staging, on_progress=self.on_progress)
        except BaseException:
            self.discard()
            raise

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

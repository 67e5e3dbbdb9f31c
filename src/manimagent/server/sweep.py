"""The background sweep of `serve`: every `server.sweep_seconds`, rows a dead process left are
settled (services.executions.sweep_abandoned), so no read ever writes; old event logs go too."""

from __future__ import annotations

import logging
import threading

from manimagent.context import Context
from manimagent.errors import ManimagentError
from manimagent.server.eventlog import remove_old_logs
from manimagent.services.executions import sweep_abandoned

log = logging.getLogger("manimagent.server")
SWEEP_SECONDS = 30.0


class Sweeper:
    """A daemon thread running the sweep at start and then every `interval` seconds until stopped."""

    def __init__(self, ctx: Context, interval: float = SWEEP_SECONDS) -> None:
        self._ctx = ctx
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="manimagent-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sweep_once()
            self._stop.wait(self._interval)

    def sweep_once(self) -> int:
        """One sweep; a store fault is logged (and tried again next time), never raised."""
        try:
            settled = sweep_abandoned(self._ctx)
        except ManimagentError as exc:
            log.warning("the sweep of abandoned renders failed: %s", exc.one_line())
            return 0
        except Exception as exc:  # noqa: BLE001 - the sweep must outlive a bad moment of the store
            from manimagent.store.db import store_fault

            fault = store_fault(exc)
            log.warning(
                "the sweep of abandoned renders failed: %s",
                fault.one_line() if fault else f"{type(exc).__name__}: {exc}",
            )
            return 0
        if settled:
            log.warning("settled %d row(s) left by a process that ended without a result", settled)
        remove_old_logs(self._ctx.settings)
        return settled

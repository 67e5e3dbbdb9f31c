"""Job folders of local renders: one per render under the temp dir, locked by the process that owns
it, and swept by the next render once that process is gone (a SIGKILL, a crash, a power cut).

    <tmp>/manimagent-job-XXXX/      the owner's, 0700
        .lock                       flock-ed while the owner lives
        work/                       the render's folder: the only place it may write
            tmp/                    its /tmp
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "manimagent-job-"
POOL_PREFIX = "manimagent-pool-"  # a warm render agent's folder (render/pool.py), swept alike
LOCK_NAME = ".lock"
WORK_NAME = "work"
SWEEP_MIN_AGE = 10.0  # seconds: a folder younger than this may be being set up right now


class JobFolder:
    def __init__(self, prefix: str = PREFIX) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self._lock = open(self.root / LOCK_NAME, "w")  # close-on-exec: no child holds it
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path = self.root / WORK_NAME
        (self.path / "tmp").mkdir(parents=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._lock.close()


def sweep_abandoned(tmp: Path | None = None) -> list[Path]:
    """Remove the job folders whose owner has ended; returns them."""
    removed = []
    now = time.time()
    root = Path(tmp or tempfile.gettempdir())
    for folder in [*root.glob(f"{PREFIX}*"), *root.glob(f"{POOL_PREFIX}*")]:
        try:
            if not folder.is_dir() or folder.is_symlink() or now - folder.stat().st_mtime < SWEEP_MIN_AGE:
                continue
            if _owner_alive(folder):
                continue
        except OSError:  # another user's, or gone meanwhile
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _owner_alive(folder: Path) -> bool:
    lock = folder / LOCK_NAME
    if not lock.exists():
        return False  # a folder of an older version, or one that never got its lock
    with open(lock, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False

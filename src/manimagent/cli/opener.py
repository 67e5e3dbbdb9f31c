"""Opening a finished file in the system's viewer: `xdg-open` (Linux and other Unixes), `open`
(macOS), `start` (Windows). Used by `--open`; a file that cannot be opened is a notice, never a
failure: the render it shows has succeeded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY")
OPENER_WAIT = 5.0  # seconds to wait for the opener's verdict (xdg-open hands over and ends)


class CannotOpen(Exception):
    """Why a file cannot be opened here (one line)."""


def opener_command(
    path: Path, *, platform: str | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The command that opens `path` in the system's viewer; CannotOpen when there is none here."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    if platform.startswith("win"):
        return ["cmd", "/c", "start", "", str(path)]
    name = "open" if platform == "darwin" else "xdg-open"
    if name == "xdg-open" and not any(environ.get(variable) for variable in DISPLAY_VARIABLES):
        raise CannotOpen(f"no display here (DISPLAY and WAYLAND_DISPLAY are unset), so {path} is not opened")
    found = shutil.which(name, path=environ.get("PATH"))
    if found is None:
        raise CannotOpen(f"{name} is not installed, so {path} is not opened")
    return [found, str(path)]


def open_file(path: str | Path) -> None:
    """Open `path` in the system's viewer and return; CannotOpen says why it could not be."""
    target = Path(path).expanduser()
    if not target.is_file():
        raise CannotOpen(f"{target} is not a file on this machine, so it is not opened")
    command = opener_command(target.resolve())
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise CannotOpen(
            f"{command[0]} could not start ({exc.strerror or exc}), so {target} is not opened"
        ) from None
    try:
        code = process.wait(timeout=OPENER_WAIT)
    except subprocess.TimeoutExpired:  # a viewer that stays in the foreground: it is showing the file
        return
    if code != 0:
        raise CannotOpen(f"{Path(command[0]).name} could not open {target} (exit code {code})")

"""What the local machine can render: LaTeX (latex + dvisvgm) or not."""

from __future__ import annotations

import shutil


def latex_available() -> bool:
    return bool(shutil.which("latex") and shutil.which("dvisvgm"))

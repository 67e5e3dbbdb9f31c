"""Fix memory: what an LLM repair that rendered changed, keyed by the error it answered.

The key is the error's signature: the exception type and message with quoted names, numbers and
addresses abstracted, so `'Rectangle' object has no attribute 'bottom_left'` and `'Axes' object has
no attribute 'add_label'` share one. The next repair of an error with that signature gets the
earlier diff in its prompt. Memories are kept per owner: one user's code never reaches another's prompt.
"""

from __future__ import annotations

import difflib
import re

from sqlmodel import col, select

from manimagent.context import Context
from manimagent.render.base import RenderFailure
from manimagent.store.models import FixMemory

MAX_DIFF_CHARS = 4000
MAX_SIGNATURE_CHARS = 300
_ABSTRACTIONS = (
    (re.compile(r"0x[0-9a-fA-F]+"), "ADDR"),
    (re.compile(r"(?:/[\w.-]+)+/?"), "PATH"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "NAME"),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"), "N"),
    (re.compile(r"\s+"), " "),
)


def error_signature(failure: RenderFailure) -> str:
    """The failure's exception type and message, names and numbers abstracted."""
    message = failure.message
    for pattern, replacement in _ABSTRACTIONS:
        message = pattern.sub(replacement, message)
    return f"{failure.error_type}: {message.strip()}"[:MAX_SIGNATURE_CHARS]


def code_diff(before: str, after: str) -> str:
    """A unified diff from the failing code to the code that rendered (empty when they are equal)."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "failing.py", "rendered.py", n=2, lineterm=""
    )
    text = "\n".join(lines)
    return text if len(text) <= MAX_DIFF_CHARS else text[:MAX_DIFF_CHARS] + "\n... (diff truncated)"


def remember(ctx: Context, failure: RenderFailure, before: str, after: str) -> FixMemory | None:
    """Store the repair of `failure` (before -> after); None when it changed nothing or is known."""
    diff = code_diff(before, after)
    if not diff:
        return None
    signature = error_signature(failure)
    with ctx.session() as session:
        known = session.exec(
            select(FixMemory).where(
                FixMemory.owner_id == ctx.user_id, FixMemory.signature == signature, FixMemory.diff == diff
            )
        ).first()
        if known is not None:
            return None
        row = FixMemory(owner_id=ctx.user_id, signature=signature, error=_error_text(failure), diff=diff)
        session.add(row)
        session.commit()
        session.refresh(row)
        return row


def recall(ctx: Context, failure: RenderFailure) -> FixMemory | None:
    """The latest remembered fix of an error with the failure's signature (the same error first)."""
    signature = error_signature(failure)
    with ctx.session() as session:
        rows = session.exec(
            select(FixMemory)
            .where(FixMemory.owner_id == ctx.user_id, FixMemory.signature == signature)
            .order_by(col(FixMemory.created_at).desc(), col(FixMemory.id).desc())
            .limit(20)
        ).all()
        if not rows:
            return None
        chosen = next((row for row in rows if row.error == _error_text(failure)), rows[0])
        chosen.uses += 1
        session.add(chosen)
        session.commit()
        session.refresh(chosen)
        return chosen


def _error_text(failure: RenderFailure) -> str:
    return f"{failure.error_type}: {failure.message}"

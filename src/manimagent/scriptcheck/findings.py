"""What a check reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    severity: str  # error: blocks the render | warning: reported only
    code: str  # forbidden-import, forbidden-call, undefined-name, ...
    message: str
    line: int | None = None
    suggestion: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        hint = f" (did you mean {self.suggestion}?)" if self.suggestion else ""
        return f"{where}{self.message}{hint}"

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
        said = not self.suggestion or self.suggestion in self.message  # an install command, named already
        hint = "" if said else f" (did you mean {self.suggestion}?)"
        return f"{where}{self.message}{hint}"

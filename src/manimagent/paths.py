"""Where manimagent keeps its state: one home folder (MANIMAGENT_HOME) or the platformdirs ones."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "MANIMAGENT_HOME"


@dataclass(frozen=True)
class Paths:
    data: Path
    config: Path

    @property
    def database(self) -> Path:
        return self.data / "manimagent.db"

    @property
    def media(self) -> Path:
        return self.data / "media"

    @property
    def staging(self) -> Path:
        """Renders land here first and are moved into `media` only when complete."""
        return self.media / ".staging"

    @property
    def render_cache(self) -> Path:
        return self.data / "cache" / "renders"

    @property
    def outbox(self) -> Path:
        return self.data / "outbox"

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"

    def ensure(self) -> Paths:
        """Create the home's folders; ConfigError when one is a file or cannot be created."""
        for folder in (self.data, self.config, self.media):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                from manimagent.errors import ConfigError

                raise ConfigError(
                    f"cannot use {folder} as manimagent's home: {exc.strerror or exc}",
                    hint=f"Make it a writable folder, or point {HOME_ENV} at one",
                ) from None
        return self


def get_paths() -> Paths:
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(data=root, config=root)
    import platformdirs

    return Paths(
        data=Path(platformdirs.user_data_dir("manimagent")),
        config=Path(platformdirs.user_config_dir("manimagent")),
    )


def cache_dir(paths: Paths) -> Path:
    """Derived data that may be deleted at any time (manim's name list)."""
    return paths.data / "cache"

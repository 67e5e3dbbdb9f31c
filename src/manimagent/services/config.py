"""Showing the effective settings and where each came from."""

from __future__ import annotations

from manimagent.services.schemas import SettingPublic
from manimagent.settings import SETTINGS, Settings, load_settings

MASK = "********"


def show_config(settings: Settings | None = None) -> list[SettingPublic]:
    settings = settings or load_settings()
    rows = [SettingPublic(name="home", value=settings.home, source=settings.sources["home"], help="folder of all state", env="MANIMAGENT_HOME")]
    for setting in SETTINGS:
        value = settings.values[setting.name]
        if setting.secret and value:
            value = MASK
        if setting.name == "database_url":
            value = _without_password(settings.database_url_effective)
        rows.append(
            SettingPublic(name=setting.name, value=value, source=settings.sources[setting.name], help=setting.help, key=setting.key, env=setting.env)
        )
    return rows


def _without_password(url: str) -> str:
    """A PostgreSQL URL may hold a password: it is never shown."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a SQLAlchemy URL)"


def config_paths(settings: Settings | None = None) -> dict[str, str]:
    settings = settings or load_settings()
    paths = settings.paths
    return {
        "config": str(paths.config_file),
        "home": str(paths.data),
        "database": settings.database_url_effective,
        "media": str(paths.media),
        "outbox": str(paths.outbox),
    }

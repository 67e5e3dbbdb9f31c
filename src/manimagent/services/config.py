"""The settings: the effective ones and where each came from (`config show`, `config path`), and
editing config.toml (`config set KEY VALUE`, `config unset KEY`) with comments and other keys kept."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from manimagent.errors import BadInput, ConfigError
from manimagent.schemas import SettingPublic
from manimagent.settings import (
    SETTINGS,
    Setting,
    Settings,
    _convert,  # the loader's own conversion of a raw value
    load_settings,
)

if TYPE_CHECKING:
    from tomlkit import TOMLDocument

MASK = "********"
Rule = Callable[[Any], Any]  # a value's check where it is used: the value (normalised) or BadInput


def show_config(settings: Settings | None = None) -> list[SettingPublic]:
    settings = settings or load_settings()
    rows = [
        SettingPublic(
            name="home",
            value=settings.home,
            source=settings.sources["home"],
            help="folder of all state",
            env="MANIMAGENT_HOME",
        )
    ]
    for setting in SETTINGS:
        value = settings.values[setting.name]
        if setting.secret and value:
            value = MASK
        if setting.name == "database_url":
            value = _without_password(settings.database_url_effective)
        rows.append(
            SettingPublic(
                name=setting.name,
                value=value,
                source=settings.sources[setting.name],
                help=setting.help,
                key=setting.key,
                env=setting.env,
            )
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


# ---------------------------------------------------------------- config set / unset


def set_setting(key: str, value: str, settings: Settings | None = None) -> SettingPublic:
    """Write `key = value` into config.toml, checked first as loading and use would check it
    (kind, then the setting's own rule); other keys and comments of the file are kept."""
    settings = settings or load_settings()
    setting = setting_for_key(key)
    checked = checked_value(setting, value)
    path = settings.paths.config_file
    document = _read_document(path)
    table = _table_for(document, setting.key, path, create=True)
    assert table is not None  # create=True makes the missing tables
    table[_leaf(setting.key)] = list(checked) if isinstance(checked, tuple) else checked
    _write_document(path, document, private=setting.secret)
    return _row(setting)


def unset_setting(key: str, settings: Settings | None = None) -> tuple[SettingPublic, bool]:
    """Remove `key` from config.toml (an emptied table goes too); (the setting now, whether it was set)."""
    settings = settings or load_settings()
    setting = setting_for_key(key)
    path = settings.paths.config_file
    document = _read_document(path)
    table = _table_for(document, setting.key, path, create=False)
    if table is None or _leaf(setting.key) not in table:
        return _row(setting), False
    del table[_leaf(setting.key)]
    _drop_empty_tables(document, setting.key)
    _write_document(path, document)
    return _row(setting), True


def setting_for_key(key: str) -> Setting:
    """The setting with config.toml key `key` (its name works too); BadInput for any other."""
    wanted = key.strip().lower()
    for setting in SETTINGS:
        if wanted in (setting.key.lower(), setting.name):
            return setting
    import difflib

    close = difflib.get_close_matches(wanted, [setting.key for setting in SETTINGS], n=1)
    hint = f"Did you mean {close[0]}? " if close else ""
    raise BadInput(f"unknown setting {key!r}", hint=f"{hint}`manimagent config show` lists the keys")


def checked_value(setting: Setting, raw: str) -> Any:
    """`raw` as the setting's kind (the loader's conversion), then its own rule; BadInput if not."""
    try:
        value = _convert(setting, raw, "the command line")
        rule = value_rules().get(setting.key)
        return rule(value) if rule is not None and value is not None else value
    except ConfigError as exc:  # a bad value typed here is bad input, not a broken configuration
        raise BadInput(exc.message, hint=f"`manimagent config show` describes {setting.key}") from None


def _one_of(label: str, choices: list[str]) -> Rule:
    def check(value: Any) -> str:
        word = str(value).strip().lower()
        if word not in choices:
            raise BadInput(f"{label} must be one of {', '.join(choices)}, got {value!r}")
        return word

    return check


def _size(label: str) -> Rule:
    def check(value: Any) -> str:
        from manimagent.render.sandbox import parse_size

        parse_size(value, label)
        return str(value).strip()

    return check


def _positive(label: str) -> Rule:
    def check(value: Any) -> Any:
        if value <= 0:
            raise BadInput(f"{label} must be more than 0, got {value!r}")
        return value

    return check


def _at_least(label: str, lowest: int) -> Rule:
    def check(value: Any) -> Any:
        if value < lowest:
            raise BadInput(f"{label} must be at least {lowest}, got {value!r}")
        return value

    return check


def _layout(value: Any) -> str:
    from manimagent.render.layout import layout_mode

    return layout_mode(value)


def _server(value: Any) -> str:
    from manimagent.settings import normalize_server

    return normalize_server(str(value))


def value_rules() -> dict[str, Rule]:
    """Per config.toml key, the check its value meets where it is used (after the loader's kind)."""
    from manimagent.render.base import OutputFormat, Quality
    from manimagent.render.narration import ENGINES as NARRATION_ENGINES
    from manimagent.services.engines import ENGINES

    return {
        "render.quality": _one_of("render.quality", [item.value for item in Quality]),
        "render.format": _one_of("render.format", [item.value for item in OutputFormat]),
        "render.engine": _one_of("render.engine", list(ENGINES)),
        "render.sandbox": _one_of("render.sandbox", ["auto", "bwrap", "none"]),
        "render.layout": _layout,
        "render.memory": _size("render.memory"),
        "render.max_output": _size("render.max_output"),
        "cache.max_size": _size("cache.max_size"),
        "render.timeout": _positive("render.timeout"),
        "llm.timeout": _positive("llm.timeout"),
        "server.sweep_seconds": _positive("server.sweep_seconds"),
        "render.max_processes": _at_least("render.max_processes", 1),
        "render.open_files": _at_least("render.open_files", 1),
        "generate.max_attempts": _at_least("generate.max_attempts", 1),
        "llm.max_retries": _at_least("llm.max_retries", 0),
        "server.access_token_minutes": _at_least("server.access_token_minutes", 1),
        "server.refresh_reuse_grace_seconds": _at_least("server.refresh_reuse_grace_seconds", 0),
        "server.max_body_bytes": _at_least("server.max_body_bytes", 1),
        "server.workers": _at_least("server.workers", 1),
        "client.server": _server,
        "voiceover.engine": _one_of("voiceover.engine", list(NARRATION_ENGINES)),
        "voiceover.rate": _at_least("voiceover.rate", 20),
    }


def _row(setting: Setting) -> SettingPublic:
    """The setting as `config show` now shows it (an env var may still override the file)."""
    return next(row for row in show_config() if row.name == setting.name)


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _read_document(path: Path) -> TOMLDocument:
    import tomlkit

    if not path.is_file():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (tomlkit.exceptions.ParseError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="Fix or remove the file") from exc


def _table_for(document: TOMLDocument, key: str, path: Path, *, create: bool) -> dict[str, Any] | None:
    """The table that holds `key`'s last part (created when asked), or None when there is none."""
    import tomlkit

    node: Any = document
    for part in key.split(".")[:-1]:
        if part not in node:
            if not create:
                return None
            node[part] = tomlkit.table()
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(
                f"{path}: {part} is a value, not a table, so {key} cannot be set there",
                hint="Fix or remove that line",
            )
    return node if isinstance(node, dict) else None  # the document itself, or a table in it


def _drop_empty_tables(document: TOMLDocument, key: str) -> None:
    parts = key.split(".")[:-1]
    for depth in range(len(parts), 0, -1):
        parent: Any = document
        for part in parts[: depth - 1]:
            parent = parent[part]
        if len(parent[parts[depth - 1]]) == 0:
            del parent[parts[depth - 1]]


def _write_document(path: Path, document: TOMLDocument, *, private: bool = False) -> None:
    """Replace config.toml in one step (a crash leaves the old file or the new one); `private`
    (a secret was written) makes it readable by its owner only."""
    import tomlkit

    text = tomlkit.dumps(document)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        if private:
            os.chmod(partial, 0o600)
        elif path.exists():
            os.chmod(partial, path.stat().st_mode & 0o7777)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}", hint="Make the config folder writable"
        ) from None

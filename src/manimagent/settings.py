"""Effective settings: defaults, then `config.toml`, then environment variables.

Each setting knows where its value came from, so `manimagent config show` can say so.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from manimagent.errors import BadInput, ConfigError
from manimagent.paths import HOME_ENV, Paths, get_paths

DATABASE_URL_ENV = "MANIMAGENT_DATABASE_URL"
SMTP_URL_ENV = "MANIMAGENT_SMTP_URL"
SECRET_KEY_ENV = "MANIMAGENT_SECRET_KEY"
RENDER_TIMEOUT_ENV = "MANIMAGENT_RENDER_TIMEOUT"
DEBUG_ENV = "MANIMAGENT_DEBUG"
SERVER_ENV = "MANIMAGENT_SERVER"
RENDER_SANDBOX_ENV = "MANIMAGENT_RENDER_SANDBOX"
CORS_ORIGINS_ENV = "MANIMAGENT_CORS_ORIGINS"
FORWARDED_ALLOW_IPS_ENV = "MANIMAGENT_FORWARDED_ALLOW_IPS"
WORKER_TOKEN_ENV = "MANIMAGENT_WORKER_TOKEN"
SERVE_PROCESSES_ENV = "MANIMAGENT_SERVE_PROCESSES"  # set by `serve --workers N` for its processes

T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    name: str
    key: str  # dotted key in config.toml
    default: Any
    kind: type = str
    env: str | None = None
    secret: bool = False
    help: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "database.url", None, env=DATABASE_URL_ENV, help="SQLAlchemy URL of the store"),
    Setting(
        "smtp_url",
        "mail.smtp_url",
        None,
        env=SMTP_URL_ENV,
        secret=True,
        help="SMTP server; unset writes mail to the outbox",
    ),
    Setting(
        "mail_from", "mail.from", "manimagent <noreply@localhost>", help="sender address of outgoing mail"
    ),
    Setting(
        "secret_key",
        "server.secret_key",
        None,
        env=SECRET_KEY_ENV,
        secret=True,
        help="signs tokens for serve",
    ),
    Setting(
        "render_timeout",
        "render.timeout",
        300.0,
        float,
        env=RENDER_TIMEOUT_ENV,
        help="seconds before a render is killed",
    ),
    Setting(
        "render_sandbox",
        "render.sandbox",
        "auto",
        env=RENDER_SANDBOX_ENV,
        help="how local renders are contained: auto, bwrap or none",
    ),
    Setting(
        "render_memory",
        "render.memory",
        "4GiB",
        help="address space a local render may use (e.g. 4GiB; 0: no limit)",
    ),
    Setting(
        "render_max_processes",
        "render.max_processes",
        256,
        int,
        help="processes and threads a local render may run",
    ),
    Setting(
        "render_max_output",
        "render.max_output",
        "2GiB",
        help="bytes a local render may write to its job folder",
    ),
    Setting("render_open_files", "render.open_files", 1024, int, help="files a local render may hold open"),
    Setting(
        "cache_enabled",
        "cache.enabled",
        True,
        bool,
        env="MANIMAGENT_RENDER_CACHE",
        help="reuse finished scenes from the render cache (--no-cache skips it)",
    ),
    Setting(
        "cache_max_size",
        "cache.max_size",
        "5GiB",
        help="size of the render cache; the least recently used entries go first",
    ),
    Setting("quality", "render.quality", "low", help="default render quality"),
    Setting("format", "render.format", "mp4", help="default output format"),
    Setting("engine", "render.engine", "local", help="default render engine: local or docker"),
    Setting("container", "render.container", None, help="default container for the docker engine"),
    Setting(
        "layout",
        "render.layout",
        "warn",
        help="layout check (frame edges, overlapping text): warn, repair (counts as a failure) or off",
    ),
    Setting(
        "voiceover_engine",
        "voiceover.engine",
        "offline",
        env="MANIMAGENT_VOICEOVER_ENGINE",
        help=(
            "who speaks a narrated scene: offline (espeak-ng, in the sandbox), openai, azure, gemini,"
            " or auto (a vendor whose key is set, else offline)"
        ),
    ),
    Setting(
        "voiceover_voice",
        "voiceover.voice",
        None,
        help=(
            "the TTS voice (espeak-ng: e.g. en-us; openai: alloy; gemini: Kore;"
            " azure: the deployment's voice)"
        ),
    ),
    Setting(
        "voiceover_rate",
        "voiceover.rate",
        None,
        int,
        help="offline speech rate in words per minute (espeak-ng's default: 200)",
    ),
    Setting(
        "voiceover_model",
        "voiceover.model",
        None,
        help=(
            "the network engine's TTS model (openai: gpt-4o-mini-tts;"
            " gemini: gemini-2.5-flash-preview-tts; azure: the deployment)"
        ),
    ),
    Setting("max_attempts", "generate.max_attempts", 3, int, help="render attempts of `generate` in total"),
    Setting("llm_timeout", "llm.timeout", 120.0, float, help="seconds per LLM request"),
    Setting("llm_retries", "llm.max_retries", 2, int, help="SDK retries per LLM request"),
    Setting(
        "docker_image",
        "docker.image",
        None,
        help="image of new containers; unset: manimcommunity/manim at the local manim version",
    ),
    Setting(
        "server_url",
        "client.server",
        None,
        env=SERVER_ENV,
        help="use a manimagent serve instance instead of the local store",
    ),
    Setting(
        "cors_origins",
        "server.cors_origins",
        (),
        tuple,
        env=CORS_ORIGINS_ENV,
        help="origins allowed by CORS: a TOML array or a comma-separated string; empty: CORS off",
    ),
    Setting(
        "forwarded_allow_ips",
        "server.forwarded_allow_ips",
        (),
        tuple,
        env=FORWARDED_ALLOW_IPS_ENV,
        help=(
            "proxies (addresses or networks, * for any) whose X-Forwarded-For/-Proto serve believes;"
            " empty: none"
        ),
    ),
    Setting(
        "sweep_seconds",
        "server.sweep_seconds",
        30.0,
        float,
        help="seconds between serve's sweeps of renders abandoned by a dead process",
    ),
    Setting(
        "access_token_minutes",
        "server.access_token_minutes",
        15,
        int,
        help="minutes an access token of serve stays valid",
    ),
    Setting(
        "refresh_reuse_grace_seconds",
        "server.refresh_reuse_grace_seconds",
        0,
        int,
        help="seconds a just-rotated refresh token may be sent again for the same new pair; 0: never",
    ),
    Setting(
        "max_body_bytes", "server.max_body_bytes", 1_000_000, int, help="largest request body serve accepts"
    ),
    Setting("workers", "server.workers", 2, int, help="render workers of serve"),
    Setting(
        "render_max_retries",
        "render.max_retries",
        2,
        int,
        help="times a queued render is taken up again after its worker died (PostgreSQL queue)",
    ),
    Setting(
        "queue_wait_seconds",
        "server.queue_wait_seconds",
        60.0,
        float,
        help=(
            "seconds a waiting request gives the job queue's workers to take its render before it answers 202"
        ),
    ),
    Setting(
        "worker_token",
        "worker.token",
        None,
        env=WORKER_TOKEN_ENV,
        secret=True,
        help="the token `manimagent worker` shows the server",
    ),
    Setting(
        "allow_unsandboxed_renders",
        "server.allow_unsandboxed_renders",
        False,
        bool,
        help="let serve render locally without a working sandbox",
    ),
)


class _Value(Generic[T]):
    """A typed attribute of `Settings` that reads the setting of the same name from `values`
    (so a value set by hand in `values` is what the attribute returns)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, settings: None, owner: type | None = None) -> _Value[T]: ...
    @overload
    def __get__(self, settings: Settings, owner: type | None = None) -> T: ...
    def __get__(self, settings: Settings | None, owner: type | None = None) -> T | _Value[T]:
        if settings is None:
            return self
        try:
            value: T = settings.values[self.name]
        except KeyError:
            raise AttributeError(self.name) from None
        return value


@dataclass
class Settings:
    """The effective settings: `values` by name (what `load_settings` found, or set by hand),
    `sources` saying where each came from, and one typed attribute per setting of `SETTINGS`."""

    paths: Paths
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    home = _Value[str]()
    database_url = _Value[str | None]()
    smtp_url = _Value[str | None]()
    mail_from = _Value[str]()
    secret_key = _Value[str | None]()
    render_timeout = _Value[float]()
    render_sandbox = _Value[str]()
    render_memory = _Value[str]()
    render_max_processes = _Value[int]()
    render_max_output = _Value[str]()
    render_open_files = _Value[int]()
    cache_enabled = _Value[bool]()
    cache_max_size = _Value[str]()
    quality = _Value[str]()
    format = _Value[str]()
    engine = _Value[str]()
    container = _Value[str | None]()
    layout = _Value[str]()
    voiceover_engine = _Value[str]()
    voiceover_voice = _Value[str | None]()
    voiceover_rate = _Value[int | None]()
    voiceover_model = _Value[str | None]()
    max_attempts = _Value[int]()
    llm_timeout = _Value[float]()
    llm_retries = _Value[int]()
    docker_image = _Value[str | None]()
    server_url = _Value[str | None]()
    cors_origins = _Value[tuple[str, ...]]()
    forwarded_allow_ips = _Value[tuple[str, ...]]()
    sweep_seconds = _Value[float]()
    access_token_minutes = _Value[int]()
    refresh_reuse_grace_seconds = _Value[int]()
    max_body_bytes = _Value[int]()
    workers = _Value[int]()
    render_max_retries = _Value[int]()
    queue_wait_seconds = _Value[float]()
    worker_token = _Value[str | None]()
    allow_unsandboxed_renders = _Value[bool]()

    @property
    def database_url_effective(self) -> str:
        return self.database_url or f"sqlite:///{self.paths.database}"


def _read_toml(paths: Paths) -> dict[str, Any]:
    path = paths.config_file
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="Fix or remove the file") from exc


def _lookup(table: dict[str, Any], dotted: str) -> Any:
    node: Any = table
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def _string_list(setting: Setting, raw: Any, origin: str) -> tuple[str, ...]:
    """A TOML array of strings, or one comma-separated string, as a tuple of its non-empty items."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError(
            f"{setting.name} from {origin} must be a list of strings or a comma-separated string,"
            f" got {raw!r}",
            hint='For example ["http://localhost:3000", "https://app.example.com"]',
        )
    return tuple(item.strip() for item in items if item.strip())


def _convert(setting: Setting, raw: Any, origin: str) -> Any:
    if setting.kind is tuple and raw is not None:
        return _string_list(setting, raw, origin)
    if raw is None or setting.kind is str:
        return raw if raw is None else str(raw)
    if setting.kind is bool:
        word = str(raw).strip().lower()
        if isinstance(raw, bool) or word in TRUE_WORDS | FALSE_WORDS:
            return raw if isinstance(raw, bool) else word in TRUE_WORDS
        raise ConfigError(
            f"{setting.name} from {origin} must be true or false, got {raw!r}", hint="Fix the value"
        )
    try:
        return setting.kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{setting.name} from {origin} must be a {setting.kind.__name__}, got {raw!r}",
            hint="Fix the value",
        ) from None


def load_settings() -> Settings:
    paths = get_paths()
    table = _read_toml(paths)
    settings = Settings(paths=paths)
    for setting in SETTINGS:
        value, source = setting.default, "default"
        from_file = _lookup(table, setting.key)
        if from_file is not None:
            value, source = (
                _convert(setting, from_file, str(paths.config_file)),
                f"config.toml [{setting.key}]",
            )
        if setting.env and os.environ.get(setting.env):
            value, source = _convert(setting, os.environ[setting.env], setting.env), f"env {setting.env}"
        settings.values[setting.name] = value
        settings.sources[setting.name] = source
    settings.values["home"] = str(paths.data)
    settings.sources["home"] = f"env {HOME_ENV}" if os.environ.get(HOME_ENV) else "platformdirs"
    return settings


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in {"", "0", "false", "no"}


def resolve_server(explicit: str | None = None) -> str | None:
    """The serve instance the CLI talks to: `--server`, else MANIMAGENT_SERVER / config
    `client.server`, else None (the local store)."""
    if explicit:
        return normalize_server(explicit)
    configured = load_settings().server_url
    return normalize_server(configured) if configured else None


def normalize_server(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise BadInput(
            f"server URL {url!r} must start with http:// or https://",
            hint="For example --server http://127.0.0.1:8000",
        )
    return url.strip().rstrip("/")

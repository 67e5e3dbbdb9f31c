"""API keys: the one lookup (keyring, then the provider's env var, then the vendor's) and storing them.

Keys are never written to the database, logged, or passed to a render.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from manimagent.errors import ConfigError

KEYRING_SERVICE = "manimagent"
NO_KEYRING_HINT = (
    "No keyring backend is available on this machine. Put the key in an environment variable "
    "instead (e.g. OPENAI_API_KEY, or name one with `providers update NAME --api-key-env VAR`)"
)


@dataclass(frozen=True)
class KeyLookup:
    key: str | None
    source: str  # "keyring", "env VAR", or "none"


def _keyring_get(username: str) -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, username)
    except (KeyringError, RuntimeError, OSError):
        return None


def lookup_key(provider_name: str, api_key_env: str | None, vendor_envs: tuple[str, ...]) -> KeyLookup:
    """Find a provider's key: keyring, then its `api_key_env`, then the vendor's env vars."""
    stored = _keyring_get(provider_name)
    if stored:
        return KeyLookup(stored, "keyring")
    for var in (api_key_env, *vendor_envs):
        if var and os.environ.get(var):
            return KeyLookup(os.environ[var], f"env {var}")
    return KeyLookup(None, "none")


def store_key(provider_name: str, key: str) -> None:
    import keyring
    from keyring.errors import KeyringError, NoKeyringError

    try:
        keyring.set_password(KEYRING_SERVICE, provider_name, key)
    except NoKeyringError as exc:
        raise ConfigError("cannot store the key", hint=NO_KEYRING_HINT) from exc
    except (KeyringError, RuntimeError, OSError) as exc:
        raise ConfigError(f"the keyring refused the key: {exc}", hint=NO_KEYRING_HINT) from exc


def delete_key(provider_name: str) -> None:
    try:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        keyring.delete_password(KEYRING_SERVICE, provider_name)
    except (ImportError, KeyringError, PasswordDeleteError, RuntimeError, OSError):
        pass


def keyring_backend_name() -> str:
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any backend failure means "none usable"
        return f"unavailable ({exc})"
    return f"{type(backend).__module__}.{type(backend).__name__}"

"""`Settings` has one typed attribute per setting, reading what `values` holds."""

from __future__ import annotations

import typing

import pytest

from manimagent import settings as settings_module
from manimagent.settings import SETTINGS, Settings, load_settings

PLAIN_KINDS = {str: str, int: int, float: float, bool: bool, tuple: tuple[str, ...]}


def _declared_types() -> dict[str, object]:
    """The T of each `_Value[T]` attribute, by setting name."""
    found = {}
    for name, attribute in vars(Settings).items():
        if isinstance(attribute, settings_module._Value):
            (found[name],) = typing.get_args(attribute.__orig_class__)
    return found


def test_every_setting_has_an_attribute_of_its_kind():
    declared = _declared_types()
    assert set(declared) == {setting.name for setting in SETTINGS} | {"home"}
    for setting in SETTINGS:
        kind = PLAIN_KINDS[setting.kind]
        expected = kind | None if setting.default is None else kind
        assert declared[setting.name] == expected, setting.name


def test_attributes_read_the_loaded_and_the_hand_set_values(isolated_home, monkeypatch):
    (isolated_home / "config.toml").write_text("[generate]\nmax_attempts = 5\n")
    monkeypatch.setenv("MANIMAGENT_RENDER_TIMEOUT", "7")
    settings = load_settings()
    assert settings.max_attempts == 5 and settings.render_timeout == 7.0
    assert settings.home == str(isolated_home) and settings.database_url is None
    assert settings.database_url_effective == f"sqlite:///{settings.paths.database}"
    settings.values["max_attempts"] = 2
    assert settings.max_attempts == 2


def test_an_attribute_missing_from_values_is_an_attribute_error(isolated_home):
    settings = Settings(paths=load_settings().paths)
    with pytest.raises(AttributeError, match="max_attempts"):
        _ = settings.max_attempts
    assert not hasattr(settings, "not_a_setting")

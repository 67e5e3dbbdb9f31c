"""Settings and their sources; the layering rule; error mapping of the CLI."""

from __future__ import annotations

import subprocess
import sys

from conftest import assert_one_line_error


def test_settings_sources(isolated_home, monkeypatch, cli):
    (isolated_home / "config.toml").write_text('[render]\nquality = "medium"\ntimeout = 42\n')
    monkeypatch.setenv("MANIMAGENT_RENDER_TIMEOUT", "7")
    rows = {row["name"]: row for row in cli("config", "show", "--json").json()}
    assert rows["quality"] == {**rows["quality"], "value": "medium", "source": "config.toml [render.quality]"}
    assert (
        rows["render_timeout"]["value"] == 7.0
        and rows["render_timeout"]["source"] == "env MANIMAGENT_RENDER_TIMEOUT"
    )
    assert rows["format"]["source"] == "default"
    assert rows["home"]["value"] == str(isolated_home)


def test_secrets_are_masked(monkeypatch, cli):
    monkeypatch.setenv("MANIMAGENT_SMTP_URL", "smtp://user:hunter2secret@localhost:25")
    result = cli("config", "show", "--json")
    assert "hunter2secret" not in result.stdout
    assert {row["name"]: row["value"] for row in result.json()}["smtp_url"] == "********"


def test_config_path(isolated_home, cli):
    paths = cli("config", "path", "--json").json()
    assert paths["config"] == str(isolated_home / "config.toml")
    assert paths["media"] == str(isolated_home / "media")


def test_broken_config_is_a_one_line_environment_error(isolated_home, cli):
    (isolated_home / "config.toml").write_text("[render\nquality=")
    assert_one_line_error(cli("config", "show"), 3)


def test_wrong_type_in_config(isolated_home, cli):
    (isolated_home / "config.toml").write_text('[render]\ntimeout = "soon"\n')
    assert_one_line_error(cli("config", "show"), 3)


def test_services_import_no_cli_or_server_frameworks():
    code = (
        "import sys, pkgutil, importlib, manimagent.services as s\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('manimagent.services.' + "
        "m.name)\n"
        "import manimagent.pipeline\n"
        "bad = [n for n in ('typer', 'rich', 'fastapi', 'click') if n in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_cli_startup_does_not_import_heavy_modules():
    code = (
        "import sys; from manimagent.cli import app; print(','.join(n for n in ('manim', 'sqlmodel', "
        "'sqlalchemy', 'openai', 'docker', 'google.genai', 'fastapi') if n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith("manimagent ")
    result = cli("--help")
    assert result.code == 0 and "render" in result.stdout


def test_unknown_command_and_option_are_usage_errors(cli):
    assert_one_line_error(cli("frobnicate"), 2)
    assert_one_line_error(cli("scripts", "list", "--bogus"), 2)


def test_debug_shows_the_traceback(monkeypatch, cli, isolated_home):
    import pytest

    from manimagent.errors import ConfigError

    (isolated_home / "config.toml").write_text("[broken")
    monkeypatch.setenv("MANIMAGENT_DEBUG", "1")
    with pytest.raises(ConfigError):
        cli("config", "show")


def test_a_render_gets_one_numeric_thread_unless_the_user_says_otherwise(tmp_path):
    from manimagent.render.process import render_environment

    env = render_environment(tmp_path, {"PATH": "/usr/bin", "OPENAI_API_KEY": "sk-x"})
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert "OPENAI_API_KEY" not in env
    mine = render_environment(tmp_path, {"PATH": "/usr/bin", "OPENBLAS_NUM_THREADS": "4"})
    assert mine["OPENBLAS_NUM_THREADS"] == "4"

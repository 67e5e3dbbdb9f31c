"""The CLI's one way to its services: `cli/backend.backend_for` gives the local store, or the server
of --server / MANIMAGENT_SERVER; both backends answer the same protocols; what changes a machine's
configuration is refused through a server with one line and exit 2, before anything is sent."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import assert_one_line_error
from server_fixtures import free_port


def test_no_server_is_the_local_store(isolated_home):
    from manimagent.backends.local import LocalBackend
    from manimagent.cli.backend import backend_for
    from manimagent.cli.local_auth import LocalAuth

    backend = backend_for(None)
    assert isinstance(backend, LocalBackend) and backend.server is None
    assert isinstance(backend.auth, LocalAuth)
    assert backend.scripts.list_scripts() == [] and backend.executions.list_executions(limit=1) == []


def test_server_option_is_a_remote_backend_with_a_normalized_url():
    from manimagent.backends.remote import RemoteBackend
    from manimagent.cli.backend import backend_for

    backend = backend_for("  http://127.0.0.1:8000/ ")
    assert isinstance(backend, RemoteBackend)
    assert backend.server == "http://127.0.0.1:8000" and backend.transport.server == backend.server


def test_manimagent_server_env_selects_the_remote_backend(monkeypatch):
    from manimagent.backends.local import LocalBackend
    from manimagent.backends.remote import RemoteBackend
    from manimagent.cli.backend import backend_for, local_backend

    monkeypatch.setenv("MANIMAGENT_SERVER", "http://127.0.0.1:8123/")
    chosen = backend_for(None)
    assert isinstance(chosen, RemoteBackend) and chosen.server == "http://127.0.0.1:8123"
    assert backend_for("http://127.0.0.1:9000").server == "http://127.0.0.1:9000"  # --server wins
    assert isinstance(local_backend(), LocalBackend)  # `auth promote`, `auth waitlist`: always local


def test_a_malformed_server_url_is_bad_input(monkeypatch):
    from manimagent.cli.backend import backend_for
    from manimagent.errors import BadInput

    with pytest.raises(BadInput, match="must start with http"):
        backend_for("ftp://example.com")
    monkeypatch.setenv("MANIMAGENT_SERVER", "example.com")
    with pytest.raises(BadInput):
        backend_for(None)


def test_the_events_go_to_the_chosen_backend():
    from manimagent.cli.backend import backend_for

    seen: list = []
    assert backend_for("http://127.0.0.1:8000", seen.append).transport.events == seen.append
    assert backend_for(None, seen.append).ctx.events == seen.append


@pytest.mark.parametrize(
    ("call", "operation"),
    [
        (lambda b: b.providers.add_provider(name="x", provider_type="openai"), "add provider"),
        (lambda b: b.providers.update_provider(ref="x", priority=1), "update provider"),
        (lambda b: b.providers.remove_provider(ref="x"), "remove provider"),
        (lambda b: b.providers.set_key(ref="x", key="sk-1"), "set key"),
        (lambda b: b.providers.test_provider(ref="x"), "test provider"),
        (lambda b: b.providers.get_provider(ref="x"), "get provider"),
        (lambda b: b.containers.add_container(name="warm"), "add container"),
        (lambda b: b.containers.remove_container(ref="warm"), "remove container"),
        (lambda b: b.containers.build_image(), "build image"),
        (lambda b: b.auth.promote(email="a@example.com"), "promote"),
    ],
)
def test_a_local_only_call_is_refused_remotely_without_a_request(call, operation):
    from manimagent.backends.remote import RemoteBackend
    from manimagent.errors import BadInput, ExitCode

    backend = RemoteBackend(f"http://127.0.0.1:{free_port()}")  # nothing listens: a request would fail
    with pytest.raises(BadInput) as refused:
        call(backend)
    assert refused.value.message == f"`{operation}` is not available through a server"
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert "without --server" in refused.value.hint


def test_a_remote_call_reaches_for_the_server():
    from manimagent.backends.remote import RemoteBackend
    from manimagent.client import TokenStore
    from manimagent.errors import ConfigError, Unauthorized
    from manimagent.schemas import TokenPair

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Unauthorized, match=f"not logged in to {url}"):
        RemoteBackend(url).scripts.list_scripts()
    TokenStore(url).save(TokenPair(access="a.e30.c", refresh="r.e30.c"))  # no `exp`: expired at once
    with pytest.raises(Unauthorized, match="expired"):
        RemoteBackend(url).providers.list_providers()
    with pytest.raises(ConfigError, match=f"cannot reach {url}"):
        RemoteBackend(url).auth.verify_email(token="t")  # needs no login


def test_the_cli_refuses_local_only_commands_through_a_server_before_any_request(cli, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: a request would exit 3
    for args in (["providers", "remove", "x"], ["providers", "update", "x", "--priority", "1"]):
        result = cli(*args, "--server", url)
        assert_one_line_error(result, 2)
        assert "not available through a server" in result.stderr
    monkeypatch.setenv("MANIMAGENT_SERVER", url)
    assert_one_line_error(cli("containers", "rm", "warm", "--yes"), 2)


def test_a_local_command_never_imports_the_client(isolated_home):
    code = (
        "import sys\n"
        "from manimagent.cli.backend import backend_for\n"
        "backend = backend_for(None)\n"
        "backend.scripts.list_scripts()\n"
        "print(','.join(n for n in ('manimagent.client', 'manimagent.backends.remote') if n in "
        "sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

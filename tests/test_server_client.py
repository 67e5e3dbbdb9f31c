"""The CLI as a client: `auth` with --server / MANIMAGENT_SERVER, the keyring session and its refresh,
and `RemoteBackend` returning the same documents as the REST endpoints (and as the local services)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import EXAMPLES
from server_fixtures import PASSWORD, server  # noqa: F401 - fixture

pytestmark = pytest.mark.server


def _stdin(monkeypatch, text: str) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))


def _login(cli, monkeypatch, server, address: str) -> None:
    _stdin(monkeypatch, PASSWORD)
    result = cli("auth", "login", "--email", address, "--password-stdin", "--server", server.url)
    assert result.code == 0, result.stderr


def _remote(server):
    from manimagent.backends.remote import RemoteBackend

    return RemoteBackend(server.url)


# ---- auth over HTTP ---------------------------------------------------------------------------------


def test_auth_commands_against_a_server(server, cli, monkeypatch):
    address = "cli-user@example.com"
    _stdin(monkeypatch, PASSWORD)
    registered = cli(
        "auth", "register", "--email", address, "--password-stdin", "--server", server.url, "--json"
    )
    assert registered.code == 0, registered.stderr
    assert registered.json() == {"message": "Registration successful. Please verify your email."}
    _stdin(monkeypatch, PASSWORD)
    refused = cli("auth", "login", "--email", address, "--password-stdin", "--server", server.url)
    assert refused.code == 2 and "not verified" in refused.stderr.lower()
    verified = cli("auth", "verify-email", server.outbox_token(address), "--server", server.url)
    assert verified.code == 0 and verified.stdout.strip() == "Email verified."
    _login(cli, monkeypatch, server, address)
    profile = cli("auth", "profile", "--json", "--server", server.url)
    assert profile.code == 0, profile.stderr
    from manimagent.client import TokenStore

    kept = TokenStore(server.url).load()
    assert (
        profile.json()
        == server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {kept.access}"}).json()
    )
    assert cli("auth", "logout", "--server", server.url).code == 0
    after = cli("auth", "profile", "--server", server.url)
    assert after.code == 3 and "auth login --server" in after.stderr


def test_manimagent_server_env_selects_the_server(server, cli, monkeypatch):
    account = server.account()
    monkeypatch.setenv("MANIMAGENT_SERVER", server.url + "/")
    _stdin(monkeypatch, PASSWORD)
    assert cli("auth", "login", "--email", account.email, "--password-stdin").code == 0
    assert cli("auth", "profile", "--json").json()["email"] == account.email


def test_the_keyring_session_refreshes_an_expired_access_token(server, cli, monkeypatch):
    from manimagent.client import TokenStore
    from manimagent.services.auth import TokenPair

    account = server.account()
    _login(cli, monkeypatch, server, account.email)
    store = TokenStore(server.url)
    kept = store.load()
    claims = {
        "sub": str(
            server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {kept.access}"}).json()["id"]
        ),
        "type": "access",
    }
    family = server.db("SELECT family FROM refreshtoken ORDER BY id DESC LIMIT 1")[0][0]
    expired = server.token({**claims, "fam": family}, ttl=timedelta(seconds=-5))
    store.save(TokenPair(access=expired, refresh=kept.refresh))
    profile = cli("auth", "profile", "--json", "--server", server.url)
    assert profile.code == 0, profile.stderr
    assert profile.json()["email"] == account.email
    renewed = store.load()
    assert renewed.refresh != kept.refresh and renewed.access != expired  # rotated and kept
    assert server.post("/api/auth/token/refresh/", json={"refresh": kept.refresh}).status_code == 401


def test_a_revoked_login_asks_to_log_in_again(server, cli, monkeypatch):
    from manimagent.client import TokenStore
    from manimagent.services.auth import TokenPair

    account = server.account()
    _login(cli, monkeypatch, server, account.email)
    kept = TokenStore(server.url).load()
    server.post("/api/auth/logout/", json={"refresh": kept.refresh})
    result = cli("auth", "profile", "--server", server.url)
    assert result.code == 3 and "log" in result.stderr.lower()
    assert TokenStore(server.url).load() is None or TokenStore(server.url).load() != TokenPair(
        **kept.model_dump()
    )


def test_unreachable_server_is_a_one_line_error(cli):
    from conftest import assert_one_line_error
    from server_fixtures import free_port

    result = cli("auth", "verify-email", "some-token", "--server", f"http://127.0.0.1:{free_port()}")
    assert_one_line_error(result, 3)
    assert "cannot reach" in result.stderr
    assert_one_line_error(cli("auth", "profile", "--server", "ftp://example.com"), 2)


# ---- auth on the local store ------------------------------------------------------------------------


def test_auth_commands_on_the_local_store(cli, monkeypatch, isolated_home):
    from server_fixtures import TOKEN_LINE

    _stdin(monkeypatch, PASSWORD)
    assert cli("auth", "register", "--email", "Local@Example.com", "--password-stdin").code == 0
    [mail] = list((isolated_home / "outbox").glob("*.eml"))
    token = TOKEN_LINE.search(mail.read_bytes().decode()).group(1)
    assert cli("auth", "verify-email", token).code == 0
    _stdin(monkeypatch, PASSWORD)
    login = cli("auth", "login", "--email", "local@example.com", "--password-stdin", "--json")
    assert login.code == 0 and set(login.json()) == {"access", "refresh"}
    profile = cli("auth", "profile", "--json").json()
    assert profile["email"] == "local@example.com" and profile["is_admin"] is False
    assert cli("auth", "promote", "local@example.com", "--json").json()["is_admin"] is True
    assert cli("auth", "logout").code == 0
    assert cli("auth", "profile").code == 3


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")
def test_register_prompts_twice_for_the_password(cli, monkeypatch, isolated_home):
    _stdin(monkeypatch, f"{PASSWORD}\n{PASSWORD}")
    result = cli("auth", "register", "--email", "prompted@example.com")
    assert result.code == 0, result.stderr
    assert list((isolated_home / "outbox").glob("*.eml"))


# ---- the client mirrors the services ----------------------------------------------------------------


def _without_urls(doc):
    if isinstance(doc, list):
        return [_without_urls(item) for item in doc]
    return {key: value for key, value in doc.items() if key != "output_url"}


@pytest.mark.slow
def test_client_functions_return_the_rest_documents(server, cli, monkeypatch, tmp_path):
    account = server.account()
    _login(cli, monkeypatch, server, account.email)
    remote = _remote(server)
    script = remote.scripts.import_script(path=str(EXAMPLES / "circle.py"))
    assert script.prompt == "imported from circle.py"
    rest = lambda path: server.get(path, headers=account.headers).json()  # noqa: E731
    assert script.model_dump(mode="json") == rest(f"/api/agents/scripts/{script.id}/")
    target = tmp_path / "video.mp4"
    result = remote.render.execute_script(ref=script.id[:8], quality="low", output=str(target))
    assert result.success and target.stat().st_size > 1000 and result.output_path == str(target.resolve())
    assert [row.model_dump(mode="json") for row in remote.scripts.list_scripts()] == rest(
        "/api/agents/scripts/"
    )
    executions = [
        row.model_dump(mode="json") for row in remote.executions.list_executions(script_ref=script.id)
    ]
    assert _without_urls(executions) == _without_urls(rest(f"/api/agents/executions/?script={script.id}"))
    detail = remote.executions.get_execution(ref=result.execution_id)
    assert _without_urls(detail.model_dump(mode="json")) == _without_urls(
        rest(f"/api/agents/executions/{result.execution_id}/")
    )
    retried = remote.executions.retry_execution(ref=result.execution_id)
    assert retried.success and retried.execution_id != result.execution_id
    assert [row.model_dump(mode="json") for row in remote.providers.list_providers()] == rest(
        "/api/agents/providers/"
    )
    assert [row.model_dump(mode="json") for row in remote.containers.list_containers()] == rest(
        "/api/agents/containers/"
    )
    assert remote.scripts.export_script(ref=script.id) == (EXAMPLES / "circle.py").read_text()
    assert remote.scripts.remove_script(ref=script.id) == script.id
    from manimagent.errors import NotFound

    with pytest.raises(NotFound):
        remote.scripts.get_script(ref=script.id)


@pytest.mark.slow
def test_client_generate_refine_and_render_file(server, cli, monkeypatch, tmp_path):
    from manimagent.errors import BadInput

    account = server.account()
    _login(cli, monkeypatch, server, account.email)
    remote = _remote(server)
    made = remote.generate.generate(prompt="Animate a circle", output=str(tmp_path / "gen.mp4"))
    assert made.success and made.provider == "offline" and (tmp_path / "gen.mp4").stat().st_size > 1000
    refined = remote.generate.refine_script(ref=made.script_id, instruction="make it red")
    assert refined.success and refined.script_id != made.script_id
    assert remote.scripts.get_script(ref=refined.script_id).parent == made.script_id
    # the render choices of `scripts generate` reach the server's render (they were dropped once)
    written = remote.generate.generate_script(
        prompt="Animate a square", auto_execute=True, quality="low", format="gif", cache=False, partial=True
    )
    assert written.success and written.execution is not None
    assert written.execution.output_path.endswith(".gif")
    rendered = remote.render.render_file(path=str(EXAMPLES / "circle.py"), quality="low")
    assert rendered.success and rendered.attempts == 1
    assert remote.scripts.get_script(ref=rendered.script_id).prompt == "rendered from circle.py"
    with pytest.raises(BadInput):
        remote.providers.add_provider(name="x", provider_type="openai")


SERVER_ONLY = {"client", "limiter", "queued", "server_url", "password2", "busy"}  # what only serve passes


def _keywords(function, *, typed: bool = True) -> set[str]:
    """The keyword-only arguments of `function`, with those of a `**choices: Unpack[TypedDict]`.
    `typed`: a bare `**kwargs` fails (every keyword of a backend is in its signature); a service's
    adds nothing."""
    import inspect

    from manimagent.backends import protocols

    names = set()
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY:
            names.add(parameter.name)
        elif parameter.kind is parameter.VAR_KEYWORD and typed:
            annotation = str(parameter.annotation)
            assert annotation.startswith("Unpack["), (function.__qualname__, annotation)
            choices = getattr(protocols, annotation.removeprefix("Unpack[").removesuffix("]"))
            names |= choices.__required_keys__ | choices.__optional_keys__
    return names


def test_client_has_every_service_function_with_the_same_keywords():
    from manimagent.backends import local, protocols, remote
    from manimagent.cli.local_auth import LocalAuth
    from manimagent.services import auth, containers, executions, generate, providers, render, scripts

    mirrored = {
        (scripts, protocols.Scripts, local.LocalScripts, remote.RemoteScripts): [
            "list_scripts",
            "get_script",
            "import_script",
            "export_script",
            "remove_script",
        ],
        (executions, protocols.Executions, local.LocalExecutions, remote.RemoteExecutions): [
            "list_executions",
            "get_execution",
            "retry_execution",
            "cancel_execution",
        ],
        (render, protocols.Render, local.LocalRender, remote.RemoteRender): ["execute_script", "render_file"],
        (generate, protocols.Generate, local.LocalGenerate, remote.RemoteGenerate): [
            "generate_script",
            "refine_script",
            "generate",
        ],
        (containers, protocols.Containers, local.LocalContainers, remote.RemoteContainers): [
            "list_containers",
            "start_container",
            "stop_container",
            "check_status",
            "add_container",
            "remove_container",
            "build_image",
        ],
        (providers, protocols.Providers, local.LocalProviders, remote.RemoteProviders): [
            "list_providers",
            "get_provider",
            "add_provider",
            "update_provider",
            "remove_provider",
            "set_key",
            "test_provider",
        ],
        (auth, protocols.Auth, LocalAuth, remote.RemoteAuth): [
            "register",
            "verify_email",
            "resend_verification",
            "login",
            "get_profile",
            "list_users",
            "delete_user",
            "promote",
            "list_waitlist",
        ],
    }
    for (module, protocol, local_class, remote_class), names in mirrored.items():
        for name in names:
            wanted = _keywords(getattr(module, name), typed=False) - SERVER_ONLY
            offered = _keywords(getattr(protocol, name))
            assert wanted <= offered, (module.__name__, name, wanted - offered)
            for backend in (local_class, remote_class):
                assert _keywords(getattr(backend, name)) == offered, (backend.__name__, name)

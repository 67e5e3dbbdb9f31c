"""The CLI as a client: `auth` with --server / MANIMAGENT_SERVER, the keyring session and its refresh,
and `manimagent.client` returning the same documents as the REST endpoints (and as the local services)."""

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
    from manimagent.client import RemoteContext

    return RemoteContext(server=server.url)


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
    from manimagent import client

    account = server.account()
    _login(cli, monkeypatch, server, account.email)
    ctx = _remote(server)
    script = client.import_script(ctx, path=str(EXAMPLES / "circle.py"))
    assert script.prompt == "imported from circle.py"
    rest = lambda path: server.get(path, headers=account.headers).json()  # noqa: E731
    assert script.model_dump(mode="json") == rest(f"/api/agents/scripts/{script.id}/")
    target = tmp_path / "video.mp4"
    result = client.execute_script(ctx, ref=script.id[:8], quality="low", output=str(target))
    assert result.success and target.stat().st_size > 1000 and result.output_path == str(target.resolve())
    assert [row.model_dump(mode="json") for row in client.list_scripts(ctx)] == rest("/api/agents/scripts/")
    executions = [row.model_dump(mode="json") for row in client.list_executions(ctx, script_ref=script.id)]
    assert _without_urls(executions) == _without_urls(rest(f"/api/agents/executions/?script={script.id}"))
    detail = client.get_execution(ctx, ref=result.execution_id)
    assert _without_urls(detail.model_dump(mode="json")) == _without_urls(
        rest(f"/api/agents/executions/{result.execution_id}/")
    )
    retried = client.retry_execution(ctx, ref=result.execution_id)
    assert retried.success and retried.execution_id != result.execution_id
    assert [row.model_dump(mode="json") for row in client.list_providers(ctx)] == rest(
        "/api/agents/providers/"
    )
    assert [row.model_dump(mode="json") for row in client.list_containers(ctx)] == rest(
        "/api/agents/containers/"
    )
    assert client.export_script(ctx, ref=script.id) == (EXAMPLES / "circle.py").read_text()
    assert client.remove_script(ctx, ref=script.id) == script.id
    from manimagent.errors import NotFound

    with pytest.raises(NotFound):
        client.get_script(ctx, ref=script.id)


@pytest.mark.slow
def test_client_generate_refine_and_render_file(server, cli, monkeypatch, tmp_path):
    from manimagent import client
    from manimagent.errors import BadInput

    account = server.account()
    _login(cli, monkeypatch, server, account.email)
    ctx = _remote(server)
    made = client.generate(ctx, prompt="Animate a circle", output=str(tmp_path / "gen.mp4"))
    assert made.success and made.provider == "offline" and (tmp_path / "gen.mp4").stat().st_size > 1000
    refined = client.refine_script(ctx, ref=made.script_id, instruction="make it red")
    assert refined.success and refined.script_id != made.script_id
    assert client.get_script(ctx, ref=refined.script_id).parent == made.script_id
    rendered = client.render_file(ctx, path=str(EXAMPLES / "circle.py"), quality="low")
    assert rendered.success and rendered.attempts == 1
    assert client.get_script(ctx, ref=rendered.script_id).prompt == "rendered from circle.py"
    with pytest.raises(BadInput):
        client.add_provider(ctx, name="x", provider_type="openai")


def test_client_has_every_service_function_with_the_same_keywords():
    import inspect

    from manimagent import client
    from manimagent.services import auth, containers, executions, generate, providers, render, scripts

    mirrored = {
        scripts: ["list_scripts", "get_script", "import_script", "export_script", "remove_script"],
        executions: ["list_executions", "get_execution", "retry_execution"],
        render: ["execute_script", "render_file"],
        generate: ["generate_script", "refine_script", "generate"],
        containers: ["list_containers", "start_container", "stop_container", "check_status"],
        providers: ["list_providers"],
        auth: ["register", "verify_email", "resend_verification", "login", "get_profile"],
    }
    for module, names in mirrored.items():
        for name in names:
            local = inspect.signature(getattr(module, name))
            remote = inspect.signature(getattr(client, name))
            wanted = {
                p.name
                for p in local.parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.name not in {"client", "limiter", "queued"}
            }
            offered = {p.name for p in remote.parameters.values() if p.kind is p.KEYWORD_ONLY}
            assert wanted <= offered or any(p.kind is p.VAR_KEYWORD for p in remote.parameters.values()), (
                module.__name__,
                name,
            )

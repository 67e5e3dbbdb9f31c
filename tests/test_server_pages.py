"""Lists that scale: `limit` (default 50, at most 500) and `offset` on every list endpoint, the
plain-list body, a `Link` header to the next page; the CLI's `--limit` (default 50) and `--all`."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from conftest import EXAMPLES
from server_fixtures import PASSWORD, server  # noqa: F401 - fixture

pytestmark = pytest.mark.server
MANY = 120


def _add_scripts(db_path, owner_id: int | None, count: int) -> list[str]:
    """`count` script rows (and one execution each) straight into the store, newest last."""
    code = (EXAMPLES / "circle.py").read_text()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with sqlite3.connect(db_path, timeout=30) as conn:
        for index, script_id in enumerate(ids):
            stamp = f"2026-01-01 00:{index // 60:02d}:{index % 60:02d}.000000"
            conn.execute(
                "INSERT INTO script (id, owner_id, prompt, content, scene_class, scenes, status, "
                "source, prompt_tokens, completion_tokens,"
                " total_tokens, provider_attempts, created_at, updated_at) VALUES (?, ?, ?, ?, "
                "'CircleToSquare', '[\"CircleToSquare\"]',"
                " 'successful', 'imported', 0, 0, 0, '[]', ?, ?)",
                (script_id, owner_id, f"prompt {index}", code, stamp, stamp),
            )
            conn.execute(
                "INSERT INTO execution (id, script_id, owner_id, attempt_number, engine, quality, "
                "format, scenes, status, is_successful, log,"
                " outputs, original_script, fixes, created_at, layout) VALUES (?, ?, ?, 1, 'local', "
                "'low', 'mp4', '[]', 'succeeded', 1, '',"
                " '[]', 'code', '[]', ?, '[]')",
                (str(uuid.uuid4()), script_id, owner_id, stamp),
            )
    return ids[::-1]  # newest first


@pytest.fixture(scope="module")
def many(server):
    account = server.account()
    user_id = server.get("/api/auth/profile/", headers=account.headers).json()["id"]
    return account, _add_scripts(server.home / "manimagent.db", user_id, MANY)


def _walk(server, account, path: str) -> tuple[list[dict], int]:
    """Every row by following `Link: rel="next"`; returns the rows and how many pages it took."""
    rows, pages, url = [], 0, path
    while url:
        answer = server.get(url, headers=account.headers)
        assert answer.status_code == 200 and isinstance(answer.json(), list)
        rows += answer.json()
        pages += 1
        link = answer.headers.get("link")
        url = link.split(">", 1)[0].lstrip("<") if link else None
    return rows, pages


def test_the_default_page_is_50_with_a_link_to_the_next(server, many):
    account, ids = many
    answer = server.get("/api/agents/scripts/", headers=account.headers)
    assert [row["id"] for row in answer.json()] == ids[:50]
    assert (
        answer.headers["link"].endswith('rel="next"')
        and "offset=50" in answer.headers["link"]
        and "limit=50" in answer.headers["link"]
    )


def test_following_links_gives_every_row_once(server, many):
    account, ids = many
    rows, pages = _walk(server, account, "/api/agents/scripts/?limit=50")
    assert [row["id"] for row in rows] == ids and pages == 3
    executions, _ = _walk(server, account, "/api/agents/executions/?limit=40")
    assert len(executions) == MANY and len({row["id"] for row in executions}) == MANY
    omega, _ = _walk(server, account, "/api/scripts/?limit=100")
    assert [row["id"] for row in omega] == ids


def test_limit_and_offset_are_checked(server, many):
    account, ids = many
    assert [
        row["id"]
        for row in server.get("/api/agents/scripts/?limit=5&offset=10", headers=account.headers).json()
    ] == ids[10:15]
    last = server.get(f"/api/agents/scripts/?limit=500&offset={MANY - 3}", headers=account.headers)
    assert len(last.json()) == 3 and "link" not in last.headers
    for bad in ("limit=0", "limit=501", "offset=-1", "limit=x"):
        answer = server.get(f"/api/agents/scripts/?{bad}", headers=account.headers)
        assert answer.status_code == 422 and answer.json()["error"]
    for path in ("/api/agents/providers/", "/api/agents/containers/"):
        assert server.get(f"{path}?limit=1&offset=0", headers=account.headers).status_code == 200
        assert server.get(f"{path}?limit=501", headers=account.headers).status_code == 422


def test_the_cli_lists_50_by_default_and_everything_with_all(cli, isolated_home):
    assert cli("scripts", "list", "--json").json() == []  # opens (and migrates) the store
    ids = _add_scripts(isolated_home / "manimagent.db", None, MANY)
    assert [row["id"] for row in cli("scripts", "list", "--json").json()] == ids[:50]
    assert [row["id"] for row in cli("scripts", "list", "--limit", "7", "--json").json()] == ids[:7]
    assert [row["id"] for row in cli("scripts", "list", "--all", "--json").json()] == ids
    assert len(cli("executions", "list", "--json").json()) == 50
    assert len(cli("executions", "list", "--all", "--json").json()) == MANY
    bad = cli("scripts", "list", "--limit", "0")
    assert bad.code == 2 and "Traceback" not in bad.stderr


def test_the_cli_pages_through_a_server_with_all(server, many, cli, monkeypatch):
    import io

    account, ids = many
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        cli("auth", "login", "--email", account.email, "--password-stdin", "--server", server.url).code == 0
    )
    assert [row["id"] for row in cli("scripts", "list", "--server", server.url, "--json").json()] == ids[:50]
    assert [
        row["id"] for row in cli("scripts", "list", "--all", "--server", server.url, "--json").json()
    ] == ids
    from manimagent import client
    from manimagent.backends.remote import RemoteBackend

    monkeypatch.setattr(client, "PAGE_SIZE", 25)  # several pages per --all
    scripts = RemoteBackend(server.url).scripts
    assert [row.id for row in scripts.list_scripts(limit=None)] == ids
    assert [row.id for row in scripts.list_scripts(limit=60, offset=5)] == ids[5:65]

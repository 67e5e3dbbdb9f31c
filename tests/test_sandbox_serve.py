"""`serve` with the local engine: a verified user's render cannot read the server's secret, its
database or another user's media, and cannot stop the server; without a sandbox, serve refuses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLES
from server_fixtures import start_server

pytestmark = [pytest.mark.server, pytest.mark.slow]
PRELUDE = (
    "from manim import *\nfrom manim.utils.module_ops import importlib as L\nG = L.import_module\n"
    "class Attack(Scene):\n    def construct(self):\n"
)


def _scene(body: str) -> str:
    return PRELUDE + "".join(f"        {line}\n" for line in body.strip().splitlines())


def _attacks(home: Path, victim_media: str) -> dict[str, str]:
    return {
        "secret_env": "raise RuntimeError(repr(dict(G('os').environ)))",
        "secret_proc": (
            "o = G('os')\nfound = []\nfor pid in [p for p in o.listdir('/proc') if p.isdigit()]:\n"
            "    try:\n        found.append(open('/proc/%s/environ' % pid, 'rb').read())\n"
            "    except OSError:\n        pass\nraise RuntimeError(repr(found))"
        ),
        "secret_file": f"raise RuntimeError(open('{home}/secret_key').read())",
        "database": (
            f"db = G('sqlite3').connect('{home}/manimagent.db')\n"
            f"raise RuntimeError(repr(db.execute('SELECT email, password_hash FROM user').fetchall()))"
        ),
        "media": f"raise RuntimeError(repr(open('{victim_media}', 'rb').read(64)))",
        "kill_server": (
            "o = G('os')\nfor pid in range(1, 65536):\n    try:\n        o.kill(pid, 9)\n"
            "    except OSError:\n        pass\nraise RuntimeError('killed what it could')"
        ),
    }


@pytest.mark.skipif(not shutil.which("bwrap"), reason="needs bubblewrap")
def test_a_users_render_cannot_reach_the_servers_secrets_database_media_or_process(tmp_path):
    secret = "server-secret-canary-" + "z" * 30
    server = start_server(tmp_path / "home", secret=secret)
    try:
        alice, mallory = server.account("alice@example.com"), server.account("mallory@example.com")
        script = server.post(
            "/api/agents/scripts/import/",
            json={"code": (EXAMPLES / "circle.py").read_text()},
            headers=alice.headers,
        ).json()
        done = server.post(f"/api/agents/scripts/{script['id']}/execute/", headers=alice.headers).json()
        assert done["success"] is True
        victim = done["output_path"]
        alice_bytes = Path(victim).read_bytes()[:64]
        (server.home / "secret_key").write_text("file-secret-canary")
        hashes = server.db("SELECT password_hash FROM user")
        for name, body in _attacks(server.home, victim).items():
            imported = server.post(
                "/api/agents/scripts/import/", json={"code": _scene(body)}, headers=mallory.headers
            )
            assert imported.status_code == 201, imported.text
            result = server.post(
                f"/api/agents/scripts/{imported.json()['id']}/execute/",
                json={"max_attempts": 1},
                headers=mallory.headers,
            )
            assert result.status_code == 200, (name, result.text)
            body_json = result.json()
            assert body_json["success"] is False, name
            execution = server.get(
                f"/api/agents/executions/{body_json['execution_id']}/", headers=mallory.headers
            ).json()
            seen = result.text + execution["log"] + (execution["error"] or "")
            for leak in (
                secret,
                "file-secret-canary",
                repr(alice_bytes)[2:30],
                *[row[0] for row in hashes],
                "alice@example.com",
            ):
                assert leak not in seen, (name, leak)
            assert execution["sandbox"] == "bwrap", name
            assert server.process.poll() is None, f"{name} stopped the server"
        assert server.get("/api/auth/profile/", headers=alice.headers).status_code == 200
        assert Path(victim).read_bytes()[:64] == alice_bytes
    finally:
        server.stop()


def test_serve_refuses_local_renders_without_a_sandbox_unless_allowed(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
    )
    (bin_dir / "bwrap").chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"
    server = start_server(tmp_path / "strict", env={"PATH": path})
    try:
        alice = server.account("alice@example.com")
        script = server.post(
            "/api/agents/scripts/import/",
            json={"code": (EXAMPLES / "circle.py").read_text()},
            headers=alice.headers,
        ).json()
        refused = server.post(f"/api/agents/scripts/{script['id']}/execute/", headers=alice.headers)
        assert refused.status_code == 503, refused.text
        assert "sandbox" in refused.json()["error"]
        assert "local renders are refused" in server.log.read_text() or "sandbox" in server.log.read_text()
    finally:
        server.stop()
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "config.toml").write_text("[server]\nallow_unsandboxed_renders = true\n")
    allowed = start_server(tmp_path / "allowed", env={"PATH": path})
    try:
        bob = allowed.account("bob@example.com")
        script = allowed.post(
            "/api/agents/scripts/import/",
            json={"code": (EXAMPLES / "circle.py").read_text()},
            headers=bob.headers,
        ).json()
        done = allowed.post(f"/api/agents/scripts/{script['id']}/execute/", headers=bob.headers)
        assert done.status_code == 200 and done.json()["success"] is True, done.text
        execution = allowed.get(
            f"/api/agents/executions/{done.json()['execution_id']}/", headers=bob.headers
        ).json()
        assert execution["sandbox"] == "rlimits"
    finally:
        allowed.stop()


def test_an_access_token_whose_family_is_another_users_is_refused(tmp_path):
    """A token signed with the server's key (leaked, say) still needs a login of its own user:
    `fam` must name a token family issued to `sub`, and not a revoked or invented one."""
    server = start_server(tmp_path / "home")
    try:
        alice, mallory = server.account("alice@example.com"), server.account("mallory@example.com")
        ids = dict(server.db("SELECT email, id FROM user"))
        families = dict(server.db("SELECT user_id, family FROM refreshtoken"))
        mine = server.token(
            {
                "sub": str(ids["mallory@example.com"]),
                "type": "access",
                "fam": families[ids["mallory@example.com"]],
            }
        )
        assert (
            server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {mine}"}).status_code == 200
        )
        for fam in (families[ids["alice@example.com"]], "no-such-family"):
            forged = server.token({"sub": str(ids["mallory@example.com"]), "type": "access", "fam": fam})
            assert (
                server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {forged}"}).status_code
                == 401
            )
        as_alice = server.token(
            {
                "sub": str(ids["alice@example.com"]),
                "type": "access",
                "fam": families[ids["mallory@example.com"]],
            }
        )
        assert (
            server.get("/api/auth/profile/", headers={"Authorization": f"Bearer {as_alice}"}).status_code
            == 401
        )
        assert server.get("/api/auth/profile/", headers=alice.headers).status_code == 200
        assert server.get("/api/auth/profile/", headers=mallory.headers).status_code == 200
    finally:
        server.stop()

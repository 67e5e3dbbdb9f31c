"""Renders on the job queue: serve on a real PostgreSQL, real `manimagent worker` processes (each
with its own home, standing in for machines), real renders, all over loopback HTTP."""

from __future__ import annotations

import signal
import time

import pytest

from conftest import EXAMPLES, assert_one_line_error
from queue_fixtures import SLOW_SCENE, queue_render, start_site

pytestmark = [pytest.mark.postgres, pytest.mark.server, pytest.mark.slow]
CIRCLE = (EXAMPLES / "circle.py").read_text()


@pytest.fixture
def site(postgres_url, tmp_path):
    live = start_site(tmp_path / "site", postgres_url)
    yield live
    live.stop()


@pytest.fixture
def alice(site):
    return site.server.account("alice@example.com")


def _jobs(site, settle: float = 60) -> list[tuple]:
    """procrastinate's jobs, once none is `doing` (a worker finishes its job just after the row)."""
    deadline = time.monotonic() + settle
    while True:
        jobs = site.rows("SELECT id, status, attempts, queue_name FROM procrastinate_jobs ORDER BY id")
        if all(status != "doing" for _, status, _, _ in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.3)


def test_twelve_renders_on_three_workers_run_once_each_and_spread(site, alice):
    workers = [site.start_worker(f"w{index}") for index in range(3)]
    queued = [queue_render(site, alice, CIRCLE) for _ in range(12)]
    finished = [site.wait_for(alice, doc["execution_id"], timeout=600) for doc in queued]
    assert [row["status"] for row in finished] == ["succeeded"] * 12, site.logs()
    assert {row["worker"] for row in finished} == {
        worker.name for worker in workers
    }  # every worker took some
    jobs = _jobs(site)
    assert len(jobs) == 12 and {(status, attempts) for _, status, attempts, _ in jobs} == {
        ("succeeded", 1)
    }  # one try each
    # exactly one attempt per render: no job ran twice
    assert site.rows("SELECT count(*) FROM execution") == [(12,)]
    for row in finished:  # the media are the server's, sent over HTTP: the workers keep no copy
        assert row["output_path"].startswith(str(site.server.home / "media"))
        assert site.server.get(row["output_url"]).headers["content-type"] == "video/mp4"
    assert not list((site.root / "worker-w0" / "media").rglob("*.mp4"))
    listed = site.cli("workers", "list", "--json")
    assert listed.returncode == 0 and {row["name"] for row in __import__("json").loads(listed.stdout)} == {
        "w0",
        "w1",
        "w2",
    }


def test_a_waiting_execute_returns_the_workers_result(site, alice):
    site.start_worker("only")
    script = site.server.post(
        "/api/agents/scripts/import/", json={"code": CIRCLE}, headers=alice.headers
    ).json()
    answer = site.server.post(f"/api/agents/scripts/{script['id']}/execute/", headers=alice.headers)
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert (
        doc["success"] is True
        and doc["output_url"]
        and doc["output_path"].startswith(str(site.server.home / "media"))
    )
    shown = site.server.get(f"/api/agents/executions/{doc['execution_id']}/", headers=alice.headers).json()
    assert shown["worker"] == "only" and shown["status"] == "succeeded"
    events = site.server.get(
        f"/api/agents/executions/{doc['execution_id']}/events/", headers=alice.headers
    ).text
    assert (
        "event: render_started" in events and "event: render_progress" in events and "event: done" in events
    )  # through NOTIFY


def test_a_waiting_execute_that_no_worker_takes_answers_202_and_stays_queued(site, alice):
    (site.server.home / "config.toml").write_text("[server]\nqueue_wait_seconds = 2\n")
    site.restart_server()
    script = site.server.post(
        "/api/agents/scripts/import/", json={"code": CIRCLE}, headers=alice.headers
    ).json()
    answer = site.server.post(f"/api/agents/scripts/{script['id']}/execute/", headers=alice.headers)
    assert answer.status_code == 202 and "No worker has taken the render" in answer.json()["message"], (
        answer.text
    )
    site.start_worker("late")
    assert site.wait_for(alice, answer.json()["execution_id"])["status"] == "succeeded"


def test_a_worker_on_a_shared_media_folder_sends_no_media(site, alice):
    home = site.root / "worker-shared"
    home.mkdir(parents=True)
    (home / "media").symlink_to(site.server.home / "media")  # the server's folder, as a mount would show it
    site.start_worker("shared")
    row = site.wait_for(alice, queue_render(site, alice, CIRCLE)["execution_id"])
    assert row["status"] == "succeeded" and row["output_path"].startswith(str(site.server.home / "media"))
    assert site.server.get(row["output_url"]).headers["content-type"] == "video/mp4"
    assert "PUT /api/workers/media/" not in site.server.log.read_text()


def test_a_worker_killed_mid_render_is_replaced_and_both_tries_are_recorded(site, alice):
    first = site.start_worker("doomed")
    doc = queue_render(site, alice, SLOW_SCENE.format(seconds=6))
    running = site.wait_for(alice, doc["execution_id"], until=("running",), timeout=300)
    assert running["worker"] == "doomed"
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    site.start_worker("rescuer")
    script_id = doc["script_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rows = site.rows(
            "SELECT worker, status, error FROM execution WHERE script_id = :s ORDER BY created_at",
            {"s": script_id},
        )
        if len(rows) == 2 and rows[1][1] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert len(rows) == 2, (rows, site.logs())
    assert rows[0][:2] == ("doomed", "interrupted") and "stopped during the render" in rows[0][2]
    assert rows[1][:2] == ("rescuer", "succeeded"), site.logs()
    assert [(status, attempts) for _, status, attempts, _ in _jobs(site)] == [
        ("succeeded", 2)
    ]  # one job, tried twice


def test_a_job_whose_worker_dies_past_max_retries_fails_with_the_reason(site, alice):
    first = site.start_worker("doomed")
    doc = queue_render(site, alice, SLOW_SCENE.format(seconds=30))
    site.wait_for(alice, doc["execution_id"], until=("running",), timeout=300)
    first.kill()
    strict = site.root / "worker-strict"
    strict.mkdir(parents=True)
    (strict / "config.toml").write_text("[render]\nmax_retries = 0\n")  # this worker takes no job up again
    site.start_worker("strict")
    row = site.wait_for(alice, doc["execution_id"], timeout=300)
    assert (
        row["status"] == "failed"
        and "its worker died 1 time(s)" in row["error"]
        and "max_retries is 0" in row["error"]
    ), site.logs()
    assert [status for _, status, _, _ in _jobs(site)] == ["failed"]


def test_serve_killed_with_jobs_queued_loses_none(site, alice):
    queued = [queue_render(site, alice, CIRCLE) for _ in range(3)]
    site.restart_server(kill=True)  # SIGKILL: no shutdown of any kind
    site.start_worker("after")
    finished = [site.wait_for(alice, doc["execution_id"], timeout=600) for doc in queued]
    assert [row["status"] for row in finished] == ["succeeded"] * 3, site.logs()
    assert site.rows("SELECT count(*) FROM execution") == [(3,)]


def test_cancel_while_queued_and_while_running(site, alice):
    waiting = queue_render(site, alice, CIRCLE)
    cancelled = site.server.post(
        f"/api/agents/executions/{waiting['execution_id']}/cancel/", headers=alice.headers
    )
    assert cancelled.status_code == 200 and cancelled.json() == {
        "success": True,
        "execution_id": waiting["execution_id"],
        "status": "interrupted",
    }
    site.start_worker("busy")
    slow = queue_render(site, alice, SLOW_SCENE.format(seconds=60))
    site.wait_for(alice, slow["execution_id"], until=("running",), timeout=300)
    done = site.cli(
        "executions", "cancel", slow["execution_id"][:8], "--json"
    )  # the CLI on the same database
    assert done.returncode == 0 and __import__("json").loads(done.stdout)["success"] is True, done.stderr
    stopped = site.wait_for(alice, slow["execution_id"], timeout=120)
    assert stopped["status"] == "interrupted"
    deadline = time.monotonic() + 30  # the job's process names the reason just after the render stops
    while stopped["error"] != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.3)
        stopped = site.server.get(
            f"/api/agents/executions/{slow['execution_id']}/", headers=alice.headers
        ).json()
    assert stopped["status"] == "interrupted" and stopped["error"] == "cancelled"
    later = queue_render(site, alice, CIRCLE)  # the worker goes on with the next job
    assert site.wait_for(alice, later["execution_id"])["status"] == "succeeded"
    assert (
        site.server.get(f"/api/agents/executions/{waiting['execution_id']}/", headers=alice.headers).json()[
            "status"
        ]
        == "interrupted"
    )
    statuses = [status for _, status, _, _ in _jobs(site)]
    assert statuses == ["cancelled", "aborted", "succeeded"]
    again = site.server.post(f"/api/agents/executions/{later['execution_id']}/cancel/", headers=alice.headers)
    assert (
        again.status_code == 200
        and again.json()["success"] is False
        and again.json()["status"] == "succeeded"
    )


def test_a_worker_with_a_wrong_token_is_refused(site, alice):
    site.add_worker("real")
    worker = site.start_worker("impostor", token="mw_not-a-token-of-this-server")
    assert worker.process.wait(timeout=120) == 3
    text = worker.log.read_text()
    assert "Error: the server" in text and "refused the worker token" in text and "Traceback" not in text
    answer = site.server.request(
        "PUT", "/api/workers/media/a/b/c.mp4", content=b"x", headers={"Authorization": "Bearer mw_wrong"}
    )
    assert answer.status_code == 401
    assert (
        site.server.get("/api/workers/me/", headers=alice.headers).status_code == 401
    )  # a user's token is not a worker's


def test_a_worker_without_postgresql_says_what_is_missing():
    from conftest import run_cli_process

    assert_one_line_error(run_cli_process("worker"), 3)  # SQLite home: no queue
    assert "PostgreSQL" in run_cli_process("workers", "list").stderr


def test_the_database_going_away_and_back_is_survived(postgres_cluster, tmp_path):
    """Stop and start the cluster under a running serve and worker: both keep running and the
    next render works (a client may see 503s while the database is down)."""
    from postgres_cluster import start_cluster

    own = start_cluster()  # a cluster of this test: the session's stays up
    try:
        site = start_site(tmp_path / "site", own.url(own.create_database()))
        try:
            alice = site.server.account("alice@example.com")
            worker = site.start_worker("steady")
            assert (
                site.wait_for(alice, queue_render(site, alice, CIRCLE)["execution_id"])["status"]
                == "succeeded"
            )
            own.stop()
            time.sleep(3)
            own.start()
            deadline, outcome = time.monotonic() + 180, None
            while time.monotonic() < deadline and outcome is None:
                try:
                    outcome = queue_render(site, alice, CIRCLE)
                except AssertionError:
                    time.sleep(1)
            assert outcome is not None, site.logs()
            assert site.wait_for(alice, outcome["execution_id"], timeout=300)["status"] == "succeeded", (
                site.logs()
            )
            assert worker.process.poll() is None and site.server.process.poll() is None
        finally:
            site.stop()
    finally:
        own.remove()

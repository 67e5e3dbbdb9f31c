"""procrastinate's job table as the store sees it (PostgreSQL only): the libpq connection string,
cancelling a job and asking whether it is over. The queue itself is server/queue.py."""

from __future__ import annotations

JOB_OVER = ("succeeded", "failed", "cancelled", "aborted")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def conninfo(url: str) -> str:
    """The store's URL as libpq takes it (postgresql://...), for psycopg and procrastinate."""
    from manimagent.store.db import database_url

    return database_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def cancel_job(url: str, job_id: int) -> bool:
    """Ask procrastinate to cancel a job: a `todo` one never runs, a `doing` one is aborted by its
    worker (`should_abort`). False when the job is already over."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo(url)))
    with app.open():
        return app.job_manager.cancel_job_by_id(job_id, abort=True)


def job_over(url: str, job_id: int) -> bool:
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        row = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)).fetchone()
    return row is None or row[0] in JOB_OVER

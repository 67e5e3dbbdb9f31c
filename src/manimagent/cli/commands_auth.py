"""`manimagent auth ...`: accounts on the local store, or on a server with --server / MANIMAGENT_SERVER."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from manimagent.cli.backend import backend_for, local_backend
from manimagent.cli.options import LIST_LIMIT, AllOption, JsonOption, LimitOption, ServerOption, list_limit
from manimagent.cli.output import output

app = typer.Typer(
    help="Accounts: register, verify, log in, profile, log out, promote, list, delete, the waiting list.",
    no_args_is_help=True,
)

EmailOption = Annotated[str, typer.Option("--email", "-e", help="The account's email address.")]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


def _password(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        return _piped_password(confirm=confirm)
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm, err=True)


def _piped_password(*, confirm: bool) -> str:
    """No terminal: the password (and its confirmation) as lines of stdin, end of input an error."""
    from manimagent.errors import BadInput

    lines = [sys.stdin.readline() for _ in range(2 if confirm else 1)]
    if not lines[0]:
        raise BadInput(
            "no password: there is no terminal to ask on and stdin is empty",
            hint="Pipe it in: `... | manimagent auth ... --password-stdin`",
        )
    first, *again = (line.rstrip("\r\n") for line in lines)
    if again and again[0] != first:
        raise BadInput("the two passwords on stdin differ", hint="Pipe it once with --password-stdin")
    return first


def _message(result, json_: bool) -> None:
    if json_:
        return output.json(result)
    output.line(result.message)


@app.command("register")
def register(
    email: EmailOption,
    password_stdin: PasswordStdinOption = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Create an account; the verification token arrives by mail (or in <home>/outbox/)."""
    auth = backend_for(server).auth
    _message(auth.register(email=email, password=_password(password_stdin, confirm=True)), json_)


@app.command("verify-email")
def verify_email(
    token: Annotated[str, typer.Argument(help="The token from the verification mail.")],
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Verify an account's email with the token it was mailed."""
    _message(backend_for(server).auth.verify_email(token=token), json_)


@app.command("resend-verification")
def resend_verification(email: EmailOption, server: ServerOption = None, json_: JsonOption = False) -> None:
    """Mail a new verification token to an unverified account."""
    _message(backend_for(server).auth.resend_verification(email=email), json_)


@app.command("login")
def login(
    email: EmailOption,
    password_stdin: PasswordStdinOption = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Log in; the token pair is kept in the keyring (service manimagent-server), or without one in a 0600
    file, and refreshed as needed."""
    from manimagent.keys import secret_storage

    backend = backend_for(server)
    storage = secret_storage()  # nowhere to keep the login: fail before asking for the password
    pair = backend.auth.login(email=email, password=_password(password_stdin, confirm=False))
    if storage.notice:
        output.notice(storage.notice)
    if json_:
        return output.json(
            {"access": pair.access, "refresh": pair.refresh}
        )  # the pair only, locally and remotely
    where = f" on {backend.server}" if backend.server else ""
    output.success(f"Logged in as {email.strip().lower()}{where}")


@app.command("profile")
def profile(server: ServerOption = None, json_: JsonOption = False) -> None:
    """The logged-in account."""
    user = backend_for(server).auth.get_profile()
    if json_:
        return output.json(user)
    output.fields(
        [
            ("id", user.id),
            ("email", user.email),
            ("name", f"{user.first_name} {user.last_name}".strip()),
            ("verified", user.email_verified),
            ("admin", user.is_admin),
            ("joined", f"{user.date_joined:%Y-%m-%d %H:%M}"),
        ]
    )


@app.command("logout")
def logout(server: ServerOption = None) -> None:
    """End the login (the server revokes it) and forget its tokens."""
    output.info(backend_for(server).auth.logout().message)


@app.command("promote")
def promote(
    email: Annotated[str, typer.Argument(help="The account to make an administrator.")],
    json_: JsonOption = False,
) -> None:
    """Make an account an administrator (local store only: run it on the server's machine)."""
    user = local_backend().auth.promote(email=email)
    if json_:
        return output.json(user)
    output.success(f"{user.email} is now an administrator.")


@app.command("users")
def users(
    limit: LimitOption = LIST_LIMIT,
    all_: AllOption = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """The accounts, oldest first (an administrator: the local store, or --server with an admin's login)."""
    rows = backend_for(server).auth.list_users(limit=list_limit(limit, all_))
    if json_:
        return output.json(rows)
    if not rows:
        return output.info("There are no accounts.")
    output.table(
        ["id", "email", "name", "verified", "admin", "joined", "last login"],
        [
            (
                u.id,
                u.email,
                f"{u.first_name} {u.last_name}".strip(),
                u.email_verified,
                u.is_admin,
                f"{u.date_joined:%Y-%m-%d %H:%M}",
                f"{u.last_login:%Y-%m-%d %H:%M}" if u.last_login else "-",
            )
            for u in rows
        ],
    )


@app.command("delete")
def delete(
    email: Annotated[str, typer.Argument(help="The account to delete.")],
    reassign_to: Annotated[
        str | None,
        typer.Option(
            "--reassign-to",
            help="Give its scripts, executions and media to this account instead of removing them.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    server: ServerOption = None,
    json_: JsonOption = False,
) -> None:
    """Delete an account: its logins end, its id is never reused, and its scripts, executions and media are
    removed (or reassigned)."""
    auth = backend_for(server).auth
    if not yes and sys.stdin.isatty():
        fate = f"given to {reassign_to}" if reassign_to else "deleted"
        typer.confirm(
            f"Delete the account {email}? Its scripts, executions and media are {fate}.", abort=True, err=True
        )
    result = auth.delete_user(email=email, reassign_to=reassign_to)
    if json_:
        return output.json(result)
    fate = f"given to {result.reassigned_to}" if result.reassigned_to else "removed"
    output.success(
        f"Deleted {result.email}: {result.scripts} script(s) and {result.executions} execution(s) "
        f"{fate}, {result.tokens_revoked} login(s) ended."
    )


@app.command("waitlist")
def waitlist(json_: JsonOption = False) -> None:
    """The waiting list (POST /api/auth/waiting-list/), first come first (local store only: run it on the
    server's machine)."""
    entries = local_backend().auth.list_waitlist()
    if json_:
        return output.json(entries)
    if not entries:
        return output.info("Nobody is on the waiting list.")
    output.table(
        ["email", "name", "reason", "joined"],
        [(e.email, e.name, e.reason, f"{e.created_at:%Y-%m-%d %H:%M}") for e in entries],
    )

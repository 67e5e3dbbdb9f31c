"""The command line: a thin Typer adapter over `manimagent.services`.

Command modules import services inside their functions so `manimagent --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

try:  # typer vendors its own click from 0.20 on
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as click  # type: ignore[no-redef]

from manimagent.cli import app_main

app = app_main.app


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected failures become one `Error:` line and the contract's exit code."""
    from manimagent.cli.output import output
    from manimagent.errors import ExitCode, ManimagentError
    from manimagent.settings import debug_enabled

    output.printed_json = False
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code = command.main(args=args, prog_name="manimagent", standalone_mode=False)
    except ManimagentError as exc:
        if debug_enabled():
            raise
        _fail(exc, args)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted.")
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.ClickException as exc:
        if debug_enabled():
            raise
        _usage_failure(exc, args)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if debug_enabled():
            raise
        _unexpected_failure(exc, args)
    if code == int(ExitCode.INTERRUPTED):  # typer turns Ctrl-C into a silent return of 130
        _error("interrupted.")
    sys.exit(code if isinstance(code, int) else 0)


def _usage_failure(exc: click.ClickException, args: list[str]) -> None:
    """A bad command line: one `Error:` line (none when a group without a command showed its help)."""
    from manimagent.errors import ExitCode

    if exc.format_message().strip():  # empty for a group called without a command (help was shown)
        _error(_click_message(exc))
        _json_failure(args, {"success": False, "error": _click_message(exc).rstrip(".") + "."})
    sys.exit(int(ExitCode.BAD_INPUT) if isinstance(exc, click.UsageError) else exc.exit_code)


def _unexpected_failure(exc: Exception, args: list[str]) -> None:
    """A fault of the store as its ConfigError, anything else as one `unexpected ...` line (exit 1)."""
    from manimagent.errors import ExitCode

    fault = _store_fault(exc)
    if fault is not None:
        _fail(fault, args)
    _error(f"unexpected {type(exc).__name__}: {exc} (set MANIMAGENT_DEBUG=1 for the traceback).")
    _json_failure(args, {"success": False, "error": f"unexpected {type(exc).__name__}: {exc}"})
    sys.exit(int(ExitCode.FAILED))


def _fail(exc, args: list[str]) -> None:
    """One `Error:` line on stderr, with `--json` the failure document on stdout, and the exit code."""
    _error(exc.one_line())
    _json_failure(args, failure_document(exc))
    sys.exit(int(exc.exit_code))


def failure_document(exc) -> dict:
    """`{"success": false, "error": ...}` (plus `hint`, `details`): the body REST answers with."""
    message = exc.message if exc.message.endswith(".") else f"{exc.message}."
    doc = {"success": False, "error": message}
    if exc.hint:
        doc["hint"] = exc.hint
    if exc.details is not None:
        doc["details"] = exc.details
    return doc


def _json_failure(args: list[str], doc: dict) -> None:
    """With `--json` (before any `--`), the failure document on stdout (unless one was printed)."""
    options = args[: args.index("--")] if "--" in args else args
    if "--json" not in options:
        return
    from manimagent.cli.output import output

    if not output.printed_json:
        output.json(doc)


def _store_fault(exc: BaseException):
    """A ConfigError for a failure of the store (damaged db, full disk, unwritable home), else None."""
    import errno

    if isinstance(exc, OSError) and exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS):
        return None
    if "sqlalchemy" not in sys.modules and not isinstance(exc, OSError):
        return None
    from manimagent.settings import load_settings
    from manimagent.store.db import store_fault

    try:
        url = load_settings().database_url_effective
    except Exception:  # noqa: BLE001 - the message then names no path
        url = None
    return store_fault(exc, url)


def _click_message(exc: click.ClickException) -> str:
    message = " ".join(exc.format_message().split())
    context = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and context is not None:
        message += f" (see `{context.command_path} --help`)"
    return message


def _error(text: str) -> None:
    from manimagent.cli.output import output

    output.error(text)

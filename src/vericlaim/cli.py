"""The ``vericlaim`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from vericlaim import __version__
from vericlaim.errors import EvidenceError, PolicyError, VericlaimError

app = typer.Typer(
    name="vericlaim",
    help="Check the photo and video evidence behind after-sales claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


def _fail(message: str, code: int) -> None:
    typer.echo(f"vericlaim: error: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


@app.command()
def check(
    claim_media: Annotated[list[Path], typer.Argument(help="The claim's photos and videos.")],
    reference: Annotated[
        list[Path] | None,
        typer.Option("--reference", "-r", help="A merchant listing photo (repeatable)."),
    ] = None,
    packing: Annotated[
        list[Path] | None,
        typer.Option("--packing", help="A merchant packing/shipping photo or video (repeatable)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly the verdict JSON on stdout.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Also write the verdict JSON here.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report.")
    ] = None,
    claim_id: Annotated[
        str | None, typer.Option("--claim-id", help="Identifier to put in the verdict.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="A policy TOML file instead of the default.")
    ] = None,
    analyzers: Annotated[
        str | None,
        typer.Option(
            "--analyzers",
            help="Comma-separated analyzers to run instead of all of them "
            "(e.g. reference_match,provenance).",
        ),
    ] = None,
) -> None:
    """Check a claim's photos against the merchant's reference photos."""
    from vericlaim.check import check_paths
    from vericlaim.evidence import Role
    from vericlaim.scoring import load_policy

    references = list(reference or [])
    packings = list(packing or [])
    chosen = _chosen_analyzers(analyzers) if analyzers is not None else None
    try:
        listing: list[Role] = ["listing"]
        packing_role: list[Role] = ["packing"]
        roles = listing * len(references) + packing_role * len(packings)
        loaded_policy = load_policy(policy)
        with _progress(len(claim_media)) as advance:
            result = check_paths(
                claim_media,
                references + packings,
                reference_roles=roles,
                claim_id=claim_id,
                policy=loaded_policy,
                analyzers=chosen,
                progress=advance,
            )
    except EvidenceError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except PolicyError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except VericlaimError as exc:
        _fail(str(exc), EXIT_INTERNAL)
    except Exception as exc:
        _fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL)

    text = json.dumps(result.verdict, ensure_ascii=False, indent=2)
    if json_out is not None:
        _write(json_out, text + "\n")
    if report is not None:
        from vericlaim.reports.html import render_report

        _write(report, render_report(result))
    if as_json:
        sys.stdout.write(text + "\n")
    else:
        from vericlaim.reports.terminal import print_summary

        print_summary(result, report=report)


def _chosen_analyzers(names: str) -> list:
    """The analyzers named on the command line, or exit 2 naming the unknown one."""
    from vericlaim.analyzers.registry import all_analyzers

    known = all_analyzers()
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        _fail(f"--analyzers: no analyzer named; known: {', '.join(known)}", EXIT_BAD_INPUT)
    for name in wanted:
        if name not in known:
            _fail(
                f"--analyzers: unknown analyzer {name!r}; known: {', '.join(known)}",
                EXIT_BAD_INPUT,
            )
    return [known[name]() for name in dict.fromkeys(wanted)]


db_app = typer.Typer(
    name="db", help="Manage the service database.", no_args_is_help=True, add_completion=False
)
app.add_typer(db_app)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision (default: the latest).")
    ] = "head",
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="Database URL instead of VERICLAIM_DATABASE_URL."),
    ] = None,
) -> None:
    """Create the schema on an empty database, or upgrade it to the latest revision."""
    from sqlalchemy.engine import make_url

    from vericlaim.settings import get_settings
    from vericlaim.storage.migrate import upgrade

    try:
        url = database_url or get_settings().resolved_database_url()
        upgrade(revision, url=url)
    except VericlaimError as exc:
        _fail(str(exc), EXIT_INTERNAL)
    except Exception as exc:
        _fail(f"database upgrade failed: {type(exc).__name__}: {exc}", EXIT_INTERNAL)
    shown = make_url(url).render_as_string(hide_password=True)
    typer.echo(f"database at {shown} is at revision {revision}")


def _add_service_commands() -> None:
    from vericlaim import cli_service

    app.command()(cli_service.serve)
    app.command()(cli_service.worker)
    app.add_typer(cli_service.claims_app)
    app.add_typer(cli_service.audit_app)
    app.add_typer(cli_service.keys_app)
    app.add_typer(cli_service.fraud_app)


_add_service_commands()


PROGRESS_FROM = 4
"""Show a progress bar (on stderr, so ``--json`` output stays clean) from this many photos."""


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    if total < PROGRESS_FROM:
        yield lambda _media_id: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    columns = (
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=total)
        yield lambda media_id: bar.update(task, advance=1, description=escape(media_id))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _fail(f"{path}: cannot write ({exc.strerror or exc})", EXIT_BAD_INPUT)


def main() -> None:
    """Entry point of the ``vericlaim`` script."""
    app()


if __name__ == "__main__":
    main()

"""``vericlaim serve|worker|claims|audit|keys``: the service from the command line.

The ``claims`` commands work on the local database (the settings' ``database_url``, by
default SQLite under ``./vericlaim-data/``) through the service layer, as the holder of
an API key (``--api-key`` or ``VERICLAIM_API_KEY``), so they see and may do exactly what
that key may do over HTTP. Every command that opens the database first brings its schema
to the latest revision (the same as ``vericlaim db upgrade``).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vericlaim.errors import EvidenceError, VericlaimError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from vericlaim.cases.model import Actor, ServiceContext

__all__ = ["audit_app", "claims_app", "fraud_app", "keys_app", "serve", "worker"]

EXIT_OK, EXIT_PROBLEM, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str, code: int = EXIT_PROBLEM) -> None:
    typer.echo(f"vericlaim: error: {message}", err=True)
    raise typer.Exit(code)


def _open(*, reuse: bool = False) -> tuple[sessionmaker[Session], ServiceContext]:
    from vericlaim.cases.model import ServiceContext
    from vericlaim.settings import get_settings
    from vericlaim.storage.db import make_engine, session_factory
    from vericlaim.storage.migrate import upgrade

    try:
        settings = get_settings()
        upgrade("head", settings=settings)
        engine = make_engine(settings=settings)
    except Exception as exc:
        _fail(f"cannot open the database: {type(exc).__name__}: {exc}")
    sessions = session_factory(engine)
    ctx = ServiceContext.from_settings(settings)
    if reuse:  # processes that analyse claims: the reuse index, rebuilt from the database
        from vericlaim.cases._reuse import ClaimReuse

        ctx.reuse = ClaimReuse.from_database(sessions)
    return sessions, ctx


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(help="Analysis worker threads (default: the workers setting, 2)."),
    ] = None,
) -> None:
    """Run the API with analysis workers, the clock scheduler and webhook delivery.

    With no configuration: SQLite and blobs under ./vericlaim-data/, schema created or
    upgraded on start.
    """
    import uvicorn

    from vericlaim.api import create_app
    from vericlaim.cases.background import Background

    _logging()
    sessions, ctx = _open(reuse=True)
    count = ctx.settings.workers if workers is None else workers
    app = create_app(engine=sessions.kw["bind"], context=ctx)
    background = Background(sessions, ctx, workers=count).start()
    typer.echo(f"vericlaim: serving on http://{host}:{port} with {count} workers", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        background.close()


def worker(
    workers: Annotated[
        int | None, typer.Option(help="Worker threads (default: the workers setting, 2).")
    ] = None,
) -> None:
    """Run analysis workers only (scale out beside `vericlaim serve --workers 0`)."""
    import signal
    import threading

    from vericlaim.cases.background import Background

    _logging()
    sessions, ctx = _open(reuse=True)
    count = max(1, ctx.settings.workers if workers is None else workers)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    background = Background(sessions, ctx, workers=count, scheduler=False).start()
    typer.echo(f"vericlaim: analysis workers running: {count}; Ctrl-C stops them", err=True)
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        background.close()


keys_app = typer.Typer(name="keys", help="API keys.", no_args_is_help=True, add_completion=False)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="platform, merchant, reviewer or admin.")],
    tenant: Annotated[
        str, typer.Option(help="A tenant id (ten_...), or with --kind the name of a new tenant.")
    ],
    kind: Annotated[
        str | None,
        typer.Option(help="Create the tenant first: platform, merchant or operator."),
    ] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
) -> None:
    """Issue an API key and print it once (only its hash is stored)."""
    from vericlaim.cases import service
    from vericlaim.cases.model import Actor
    from vericlaim.cases.workflow import Role
    from vericlaim.storage.db import transaction

    sessions, ctx = _open()
    operator = Actor("cli", Role.SYSTEM)
    try:
        with transaction(sessions) as session:
            tenant_id = tenant
            if kind is not None:
                tenant_id = service.create_tenant(session, ctx, operator, name=tenant, kind=kind).id
            issued = service.issue_api_key(
                session, ctx, operator, tenant_id=tenant_id, role=Role(role), name=name
            )
    except (VericlaimError, ValueError) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    typer.echo(
        json.dumps(
            {
                "api_key": issued.secret,
                "id": issued.id,
                "tenant_id": tenant_id,
                "role": issued.role.value,
            }
        )
    )


audit_app = typer.Typer(
    name="audit", help="The audit log.", no_args_is_help=True, add_completion=False
)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash-chained audit log: exit 0 when intact, 1 with every broken row."""
    from vericlaim.storage.audit import verify
    from vericlaim.storage.db import transaction

    sessions, _ctx = _open()
    with transaction(sessions) as session:
        report = verify(session)
    if report.ok:
        typer.echo(f"audit log intact: {report.rows} rows")
        return
    for problem in report.problems:
        typer.echo(f"row {problem.seq}: {problem.problem}")
    typer.echo(f"audit log broken: {len(report.problems)} problems in {report.rows} rows", err=True)
    raise typer.Exit(EXIT_PROBLEM)


claims_app = typer.Typer(
    name="claims",
    help="Claims in the local database, as the holder of an API key.",
    no_args_is_help=True,
    add_completion=False,
)

ApiKey = Annotated[
    str, typer.Option("--api-key", envvar="VERICLAIM_API_KEY", help="Act as this key's holder.")
]


def _actor(sessions: sessionmaker[Session], api_key: str) -> Actor:
    from vericlaim.cases import service
    from vericlaim.storage.db import transaction

    with transaction(sessions) as session:
        actor = service.authenticate(session, api_key)
    if actor is None:
        _fail("unknown or revoked API key", EXIT_BAD_INPUT)
    assert actor is not None
    return actor


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


@claims_app.command("submit")
def claims_submit(
    photos: Annotated[list[Path], typer.Argument(help="The claim's photos and videos.")],
    order: Annotated[str, typer.Option(help="Order id (ord_...).")],
    buyer: Annotated[str, typer.Option(help="Buyer id (buy_...).")],
    amount: Annotated[int, typer.Option(help="Amount claimed, in fen (CNY cents).")],
    api_key: ApiKey,
    claim_type: Annotated[
        str, typer.Option("--type", help="refund_only, return_refund, exchange or repair.")
    ] = "refund_only",
    reason: Annotated[str, typer.Option(help="The buyer's reason, as written.")] = "",
    idempotency_key: Annotated[
        str | None, typer.Option(help="Default: derived from the order and the photos.")
    ] = None,
) -> None:
    """Submit a claim; it is queued for analysis by `vericlaim serve` or `vericlaim worker`."""
    import hashlib

    from vericlaim.cases import service
    from vericlaim.cases.model import MediaUpload
    from vericlaim.storage.db import transaction

    sessions, ctx = _open()
    actor = _actor(sessions, api_key)
    try:
        media = [MediaUpload(p.read_bytes(), p.name) for p in photos]
    except OSError as exc:
        _fail(f"cannot read a photo: {exc}", EXIT_BAD_INPUT)
    key = (
        idempotency_key
        or hashlib.sha256(
            (order + "".join(hashlib.sha256(m.data).hexdigest() for m in media)).encode()
        ).hexdigest()[:32]
    )
    try:
        with transaction(sessions) as session:
            submitted = service.submit_claim(
                session,
                ctx,
                actor,
                idempotency_key=key,
                order_id=order,
                buyer_id=buyer,
                claim_type=claim_type,
                amount_fen=amount,
                media=media,
                reason_text=reason,
            )
    except (EvidenceError, ValueError) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except VericlaimError as exc:
        _fail(str(exc))
    _print({**asdict(submitted.claim), "created": submitted.created})


@claims_app.command("show")
def claims_show(
    claim_id: Annotated[str, typer.Argument(help="Claim id (clm_...).")], api_key: ApiKey
) -> None:
    """A claim, with its latest verdict when it has been analysed."""
    from vericlaim.cases import service
    from vericlaim.storage.db import transaction

    sessions, ctx = _open()
    actor = _actor(sessions, api_key)
    try:
        with transaction(sessions) as session:
            claim = service.get_claim(session, ctx, actor, claim_id)
            analysis = service.latest_analysis(session, ctx, actor, claim_id)
    except VericlaimError as exc:
        _fail(str(exc))
    _print({**asdict(claim), "verdict": analysis.document if analysis else None})


@claims_app.command("list")
def claims_list(
    api_key: ApiKey,
    state: Annotated[str | None, typer.Option(help="Only claims in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Claims the key may see, newest first, one JSON object a line."""
    from vericlaim.cases import service
    from vericlaim.storage.db import transaction

    sessions, ctx = _open()
    actor = _actor(sessions, api_key)
    with transaction(sessions) as session:
        claims = service.list_claims(session, ctx, actor, state=state, limit=limit, offset=offset)
    for claim in claims:
        row = {k: claim.__getattribute__(k) for k in ("id", "state", "claim_type", "amount_fen")}
        sys.stdout.write(json.dumps({**row, "created_at": claim.created_at.isoformat()}) + "\n")


fraud_app = typer.Typer(
    name="fraud",
    help="Confirmed-fraud records shared with the consortium (signed JSON Lines).",
    no_args_is_help=True,
    add_completion=False,
)


@fraud_app.command("export")
def fraud_export(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only decisions at or after this ISO 8601 time (UTC)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the lines here instead of stdout.")
    ] = None,
) -> None:
    """Export every claim confirmed as fabricated evidence, one signed record a line."""
    from datetime import UTC, datetime

    from vericlaim.cases.fraud_records import export_records

    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            _fail(f"--since {since!r}: not an ISO 8601 time", EXIT_BAD_INPUT)
        assert start is not None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    sessions, ctx = _open()
    settings = ctx.settings
    try:
        lines = list(
            export_records(
                sessions,
                since=start,
                signing_key=settings.fraud_signing_key.get_secret_value(),
                key_id=settings.fraud_key_id,
                issuer=settings.fraud_issuer,
            )
        )
    except VericlaimError as exc:
        _fail(str(exc))
    text = "".join(line + "\n" for line in lines)
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail(f"{out}: cannot write ({exc.strerror or exc})", EXIT_BAD_INPUT)
    typer.echo(f"exported {len(lines)} records", err=True)


@fraud_app.command("import")
def fraud_import(
    file: Annotated[Path, typer.Argument(help="A JSON Lines file from `fraud export`.")],
) -> None:
    """Verify and store another platform's records; bad lines are reported and skipped."""
    from vericlaim.cases.fraud_records import import_records

    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _fail(f"{file}: cannot read ({why})", EXIT_BAD_INPUT)
    sessions, ctx = _open()
    try:
        report = import_records(
            sessions, lines, trusted_keys=ctx.settings.fraud_trusted_keys, now=ctx.now()
        )
    except VericlaimError as exc:
        _fail(str(exc))
    for number, why in report.rejected:
        typer.echo(f"{file}:{number}: rejected: {why}", err=True)
    typer.echo(
        f"imported {report.accepted} records, {report.duplicates} already held, "
        f"{len(report.rejected)} rejected"
    )


@fraud_app.command("public-key")
def fraud_public_key() -> None:
    """Print the key id and the public key that verify this platform's records."""
    from vericlaim.cases.fraud_records import public_key_b64
    from vericlaim.settings import get_settings

    settings = get_settings()
    try:
        key = public_key_b64(settings.fraud_signing_key.get_secret_value())
    except VericlaimError as exc:
        _fail(str(exc))
    typer.echo(json.dumps({settings.fraud_key_id: key}))

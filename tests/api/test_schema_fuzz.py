"""Schemathesis against the app's own OpenAPI schema, in process: no request it can
generate from the schema gets a 5xx (a bounded number of examples per operation)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.api.conftest import make_api, open_shop, submit  # noqa: E402
from tests.dbsupport import Db, ManualClock  # noqa: E402
from vericlaim.cases.model import ServiceContext  # noqa: E402
from vericlaim.settings import get_settings  # noqa: E402
from vericlaim.storage.db import create_schema, make_engine, session_factory  # noqa: E402

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz")
    engine = make_engine(f"sqlite:///{tmp / 'vericlaim.db'}")
    create_schema(engine)
    ctx = ServiceContext.from_settings(get_settings(data_dir=tmp / "data"), clock=ManualClock())
    db = Db(engine, session_factory(engine), ctx, ctx.clock, "sqlite")  # type: ignore[arg-type]
    for api in make_api(db, Path(tmp)):
        shop = open_shop(api)
        submit(api, shop)
        yield api
    engine.dispose()


def test_no_request_gets_a_server_error(fuzz_api: Any) -> None:
    # Schemathesis' own pytest plugin does not run on this pytest; its strategies do.
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_api.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            for who in ("admin", "platform", "merchant"):
                response = case.call(headers={**(case.headers or {}), **fuzz_api.auth(who)})
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} as {who}: "
                        f"{response.status_code} {response.text[:200]}"
                    )

        run()
    assert failures == []
    assert sum(statuses.values()) >= 3 * len(operations)
    assert statuses.keys() - {200, 201, 202} != set()  # it reached the handlers' refusals

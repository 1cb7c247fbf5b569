"""Create the analysts' views in Athena (``forecourt catalog migrate``; CloudFormation has no view
resource): each view of ``queries/views`` as ``CREATE OR REPLACE VIEW``, run in the analysts'
workgroup against the Glue database, one at a time in dependency order, each polled to completion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from forecourt import aws, views
from forecourt.config import settings

_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class ViewDeployError(RuntimeError):
    """Athena refused a view's statement, or did not finish it in time: the message names the view."""


@dataclass(frozen=True)
class ViewDeployment:
    view: str
    query_execution_id: str
    state: str


def create_statement(view: views.View, overrides: Mapping[str, float] | None = None) -> str:
    """``CREATE OR REPLACE VIEW "<name>" AS <the view's Trino SQL with its settings>``."""
    return f'CREATE OR REPLACE VIEW "{view.name}" AS\n{views.configured_sql(view, overrides)}'


def create_views(
    overrides: Mapping[str, float] | None = None,
    *,
    athena: Any = None,
    timeout_seconds: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ViewDeployment]:
    """Create or replace every view in the Glue database, with ``overrides`` (default:
    ``Settings.view_settings``). Stops at the first view Athena refuses (the views after it may read
    it). Raises ViewDeployError, and ViewError for an unknown setting."""
    conf = settings()
    all_views = views.load_all()
    checked = views.check_settings(conf.view_settings if overrides is None else overrides, all_views.values())
    athena = athena or aws.client("athena")
    done = []
    for view in views.ordered(all_views):
        started = athena.start_query_execution(
            QueryString=create_statement(view, checked),
            QueryExecutionContext={"Database": conf.glue_database},
            WorkGroup=conf.analyst_workgroup,
        )
        query_id = started["QueryExecutionId"]
        state = _wait(athena, view.name, query_id, timeout_seconds, sleep)
        done.append(ViewDeployment(view.name, query_id, state))
    return done


def _wait(athena: Any, name: str, query_id: str, timeout: float, sleep: Callable[[float], None]) -> str:
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            return str(state)
        if state in _DONE:
            reason = status.get("StateChangeReason", "no reason given")
            raise ViewDeployError(f"view {name}: Athena says {state}: {reason}")
        if time.monotonic() > deadline:
            raise ViewDeployError(f"view {name}: not finished after {timeout:.0f} s (query {query_id})")
        sleep(delay)
        delay = min(delay * 2, 5.0)

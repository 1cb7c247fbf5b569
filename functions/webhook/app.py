"""Webhook function: the HTTP API's routes → ``forecourt.webhook``.

Wiring only: the request's raw bytes, lower-cased headers and API Gateway's receipt time go in; a
JSON answer or an RFC 9457 problem document comes out."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import webhook

logger = Logger()
app = APIGatewayHttpResolver()


def _inbound() -> webhook.Inbound:
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    received = datetime.fromtimestamp(event.request_context.time_epoch / 1000, UTC)
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    return webhook.Inbound(body=body, headers=headers, received=received)


def _json(status: int, body: dict[str, Any], content_type: str = "application/json") -> Response:
    return Response(status_code=status, content_type=content_type, body=json.dumps(body))


@app.post("/v1/leads")
def post_lead() -> Response:
    answer = webhook.receive_lead(_inbound())
    logger.info("lead answered", extra={"status": answer.status, "lead_id": answer.body.get("lead_id")})
    return _json(answer.status, answer.body)


@app.post("/v1/dealers/<dealer_id>/events")
def post_event(dealer_id: str) -> Response:
    answer = webhook.receive_event(_inbound(), dealer_id)
    logger.info("event answered", extra={"status": answer.status, "dealer_id": dealer_id})
    return _json(answer.status, answer.body)


@app.post("/v1/dealers/<dealer_id>/uploads")
def post_upload(dealer_id: str) -> Response:
    answer = webhook.upload_url(_inbound(), dealer_id)
    logger.info("upload URL issued", extra={"status": answer.status, "dealer_id": dealer_id})
    return _json(answer.status, answer.body)


@app.get("/v1/dealers/<dealer_id>/outbound")
def get_outbound(dealer_id: str) -> Response:
    answer = webhook.outbound_files(_inbound(), dealer_id, app.current_event.raw_query_string or "")
    logger.info("outbound listed", extra={"dealer_id": dealer_id, "files": len(answer.body["files"])})
    return _json(answer.status, answer.body)


@app.exception_handler(webhook.Problem)
def problem(exc: webhook.Problem) -> Response:
    logger.info("request refused", extra={"status": exc.status, "reason": exc.reason.value})
    return _json(exc.status, exc.document(), "application/problem+json")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    webhook.idempotency_config().register_lambda_context(context)
    return app.resolve(event, context)

"""The local pump plays Lambda's event-source mapping for DeliveryQueue: routed leads reach the dealer
CRM through the real deliver handler, with the function's own timeout."""

from __future__ import annotations

import time
import uuid

from conftest import LocalAws
from forecourt import aws
from forecourt.local.crm import DealerCrm
from forecourt.local.pump import LambdaContext, Pump, function_memory_mb, function_timeout_ms, queue_depth
from forecourt.local.server import environment
from routed_leads import body, dealer, delivery_id_of


def test_handlers_get_the_timeout_and_memory_the_template_gives_their_function() -> None:
    assert function_timeout_ms("deliver") == 60_000
    assert function_timeout_ms("ingest") == 300_000
    assert function_memory_mb("resolve") == 10_240 and function_memory_mb("deliver") == 512
    context = LambdaContext("deliver", timeout_ms=60_000)
    assert 59_000 < context.get_remaining_time_in_millis() <= 60_000


def test_the_local_environment_names_the_delivery_resources(local_aws: LocalAws) -> None:
    env = environment(local_aws.endpoint, local_aws.resources, smtp_port=2525)
    assert env["FORECOURT_DELIVERY_QUEUE_URL"] == local_aws.resources.queues["DeliveryQueue"]
    assert env["FORECOURT_DELIVERY_STATE_TABLE"] == local_aws.resources.tables["DeliveryStateTable"]
    assert env["FORECOURT_DELIVERY_DEAD_LETTER_QUEUE_URL"].endswith("delivery-dead-letter-queue")
    assert (env["FORECOURT_MAIL_TRANSPORT"], env["FORECOURT_SMTP_PORT"]) == ("smtp", "2525")
    assert "FORECOURT_SMTP_PORT" not in environment(local_aws.endpoint, local_aws.resources)


def test_the_pump_delivers_what_route_lead_queues(local_aws: LocalAws) -> None:
    sqs = aws.client("sqs")
    idle = [sqs.create_queue(QueueName=f"idle-{uuid.uuid4().hex[:8]}")["QueueUrl"] for _ in range(2)]
    deliveries = sqs.create_queue(QueueName=f"deliveries-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    with DealerCrm() as crm:
        dealer_id = dealer("adf_http", crm.adf_url)
        text = body(dealer_id)
        sqs.send_message(QueueUrl=deliveries, MessageBody=text)
        pump = Pump(ingest_queue=idle[0], commit_queue=idle[1], delivery_queue=deliveries, delivery_workers=1)
        pump.start()
        try:
            deadline = time.monotonic() + 60
            while not crm.received(dealer_id) and time.monotonic() < deadline:
                time.sleep(0.2)
            while queue_depth(deliveries) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            pump.stop()
        [receipt] = crm.received(dealer_id)
        assert (receipt.valid, receipt.delivery_id) == (True, delivery_id_of(text))
        assert queue_depth(deliveries) == 0  # the handler succeeded: the message was deleted

"""The operations part of template.yaml: an alarm on every dead-letter queue, an error-rate alarm on
every function, the HTTP API's 5xx rate, queue backlogs, and the dashboard (README "Operations")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

Resources = dict[str, dict[str, Any]]
PSEUDO_PARAMETERS = {"AWS::Region", "AWS::StackName", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix"}


def of_type(resources: Resources, resource_type: str) -> Resources:
    return {name: res for name, res in resources.items() if res["Type"] == resource_type}


def target(value: Any) -> str:
    """The logical id a Ref / Fn::GetAtt points at."""
    if "Ref" in value:
        return str(value["Ref"])
    got = value["Fn::GetAtt"]
    return str(got[0] if isinstance(got, list) else got.split(".")[0])


def dead_letter_queues(resources: Resources) -> set[str]:
    """Every queue that receives what failed: a redrive target of a queue, a function's
    DeadLetterConfig, or a Lambda (async) on-failure destination."""
    found = {
        target(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for queue in of_type(resources, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }
    found |= {
        target(function["Properties"]["DeadLetterConfig"]["TargetArn"])
        for function in of_type(resources, "AWS::Lambda::Function").values()
        if "DeadLetterConfig" in function["Properties"]
    }
    for config in of_type(resources, "AWS::Lambda::EventInvokeConfig").values():
        failure = config["Properties"].get("DestinationConfig", {}).get("OnFailure")
        if failure:
            found.add(target(failure["Destination"]))
    return found


def math_metrics(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A metric-math alarm's metric queries by id (metric name, dimensions as name → logical id)."""
    queries = {}
    for query in alarm["Properties"].get("Metrics", []):
        if "MetricStat" in query:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            queries[query["Id"]] = {
                "namespace": metric["Namespace"],
                "name": metric["MetricName"],
                "dimensions": {d["Name"]: target(d["Value"]) for d in metric["Dimensions"]},
                "period": stat["Period"],
                "stat": stat["Stat"],
            }
    return queries


def expression(alarm: dict[str, Any]) -> str:
    (returned,) = [q for q in alarm["Properties"]["Metrics"] if q.get("ReturnData", True)]
    return str(returned["Expression"])


def test_every_dead_letter_queue_alarms_on_its_first_message(resources: Resources) -> None:
    dead_letters = dead_letter_queues(resources)
    assert {"IngestDeadLetterQueue", "DeliveryDeadLetterQueue", "JobsFailureQueue"} <= dead_letters
    alarmed = {}
    for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            (dimension,) = props["Dimensions"]
            alarmed[target(dimension["Value"])] = name
            assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold"), name
            assert props["Period"] <= 60 and props["Statistic"] == "Maximum", name
    assert sorted(dead_letters - set(alarmed)) == []


def test_every_function_has_an_error_rate_alarm_over_a_quarter_hour(resources: Resources) -> None:
    functions = set(of_type(resources, "AWS::Lambda::Function"))
    assert len(functions) >= 9
    covered = {}
    for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items():
        queries = math_metrics(alarm)
        by_metric = {
            q["name"]: (query_id, q) for query_id, q in queries.items() if q["namespace"] == "AWS/Lambda"
        }
        if set(by_metric) != {"Errors", "Invocations"}:
            continue
        (errors_id, errors), (invocations_id, invocations) = by_metric["Errors"], by_metric["Invocations"]
        assert errors["dimensions"] == invocations["dimensions"], name
        assert errors["period"] == invocations["period"] == 900, name
        assert errors["stat"] == invocations["stat"] == "Sum", name
        minimum = re.fullmatch(
            rf"IF\({invocations_id} >= (\d+), 100 \* {errors_id} / {invocations_id}, 0\)", expression(alarm)
        )
        assert minimum, f"{name}: {expression(alarm)}"
        assert alarm["Properties"]["Threshold"] == 5
        assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
        covered[errors["dimensions"]["FunctionName"]] = int(minimum[1])
    assert sorted(functions - set(covered)) == []
    # a rate over a handful of invocations is noise for the queue and API functions, not for a job
    assert covered["IngestFunction"] == covered["DeliverFunction"] == covered["WebhookFunction"] == 20
    assert covered["ResolveFunction"] == covered["ErasureFunction"] == 1


def test_the_http_api_alarms_on_a_5xx_rate(resources: Resources) -> None:
    (api_id,) = of_type(resources, "AWS::ApiGatewayV2::Api")
    rates = [
        alarm
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if {q["name"] for q in math_metrics(alarm).values() if q["namespace"] == "AWS/ApiGateway"}
        == {"5xx", "Count"}
    ]
    (alarm,) = rates
    queries = math_metrics(alarm)
    assert {q["dimensions"]["ApiId"] for q in queries.values()} == {api_id}
    assert expression(alarm) == "IF(requests >= 20, 100 * server_errors / requests, 0)"
    assert alarm["Properties"]["Threshold"] == 1


@pytest.mark.parametrize(
    ("queue", "seconds"),
    [("IngestQueue", 3600), ("CommitQueue", 3600), ("RealtimeQueue", 300), ("DeliveryQueue", 1800)],
)
def test_a_stuck_queue_alarms_on_the_age_of_its_oldest_message(
    resources: Resources, queue: str, seconds: int
) -> None:
    ages = {
        target(alarm["Properties"]["Dimensions"][0]["Value"]): alarm["Properties"]["Threshold"]
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
    }
    assert ages[queue] == seconds


def test_every_alarm_notifies_the_topic_only_when_one_is_given(sam_template: dict[str, Any]) -> None:
    alarms = of_type(sam_template["Resources"], "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 20
    for name, alarm in alarms.items():
        for actions in ("AlarmActions", "OKActions"):
            condition, when_given, otherwise = alarm["Properties"][actions]["Fn::If"]
            assert (condition, when_given, otherwise) == (
                "HasAlarmTopic",
                [{"Ref": "AlarmTopicArn"}],
                {"Ref": "AWS::NoValue"},
            ), name


def _dashboard(sam_template: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The dashboard body as JSON (substitutions replaced by their names) and the names substituted."""
    (dashboard,) = of_type(sam_template["Resources"], "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    return json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body)), names


def test_dashboard_substitutes_only_what_the_template_declares(sam_template: dict[str, Any]) -> None:
    _, names = _dashboard(sam_template)
    declared = set(sam_template["Resources"]) | set(sam_template["Parameters"]) | PSEUDO_PARAMETERS
    assert sorted({name.split(".")[0] for name in names} - declared) == []


def test_dashboard_shows_rows_queues_dead_letters_functions_latency_and_the_api(
    sam_template: dict[str, Any],
) -> None:
    body, _ = _dashboard(sam_template)
    resources = sam_template["Resources"]
    plotted: set[tuple[str, ...]] = set()
    expressions = []
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[-1], dict) and "expression" in metric[-1]:
                expressions.append(metric[-1]["expression"])
                continue
            plotted.add(tuple(part for part in metric if isinstance(part, str)))
    for rows in ("RowsIn", "RowsCurated", "RowsQuarantined"):
        assert ("Forecourt", rows, "service", "ingest") in plotted
    for queue in of_type(resources, "AWS::SQS::Queue"):
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{queue}.QueueName") in plotted
    for queue in ("IngestQueue", "CommitQueue", "RealtimeQueue", "DeliveryQueue", "FallbackQueue"):
        assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", f"{queue}.QueueName") in plotted
    for function in of_type(resources, "AWS::Serverless::Function"):
        for metric in ("Errors", "Duration", "Throttles"):
            assert ("AWS/Lambda", metric, "FunctionName", function) in plotted
    assert ("AWS/ApiGateway", "5xx", "ApiId", "WebhookApi", "Stage", "Stage") in plotted
    assert any('MetricName="DeliveryLatency"' in e and "dealer_id" in e for e in expressions)
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    shown = {arn.removesuffix(".Arn") for arn in alarm_widget["properties"]["alarms"]}
    assert shown == set(of_type(resources, "AWS::CloudWatch::Alarm"))

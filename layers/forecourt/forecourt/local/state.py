"""Persist the local stack's state in a folder so that the lake survives ``down`` / ``up``.

moto keeps everything in memory; on checkpoints and on shutdown we copy S3 objects (incrementally,
by ETag), Glue tables, DynamoDB items, Secrets Manager secrets (current and previous value: the
webhook senders' signing secrets) and pending SQS messages to disk, and put them back on start.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from forecourt.local.resources import LocalResources

STATE_FILE = "state.json"
COPY_THREADS = 8
DYNAMODB_BATCH = 25


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def dump(
    clients: Any, made: LocalResources, state_dir: Path, *, drain_queues: bool = False
) -> dict[str, int]:
    """Write the stack's state under ``state_dir``; returns counts of what was saved."""
    previous = _read_state(state_dir)
    etags: dict[str, str] = previous.get("etags", {})
    s3 = clients("s3")
    kept: dict[str, str] = {}
    changed: list[tuple[str, str]] = []
    for bucket in made.buckets.values():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/"):
                    continue  # a folder marker (an empty object some writers make): no file to keep
                marker = f"{bucket}/{obj['Key']}"
                kept[marker] = obj["ETag"]
                if etags.get(marker) != obj["ETag"] or not (state_dir / "s3" / marker).exists():
                    changed.append((bucket, obj["Key"]))

    def copy(changed_object: tuple[str, str]) -> None:
        bucket, key = changed_object
        _atomic_write(state_dir / "s3" / bucket / key, s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(COPY_THREADS) as pool:  # a first checkpoint copies thousands of objects
        list(pool.map(copy, changed))
    for marker in set(etags) - set(kept):
        (state_dir / "s3" / marker).unlink(missing_ok=True)
    state: dict[str, Any] = {
        "etags": kept,
        "glue": _dump_glue(clients("glue"), made),
        "dynamodb": _dump_dynamodb(clients("dynamodb"), made),
        "secrets": _dump_secrets(clients("secretsmanager")),
        "sqs": _drain_sqs(clients("sqs"), made) if drain_queues else previous.get("sqs", {}),
    }
    _atomic_write(state_dir / STATE_FILE, json.dumps(state).encode())
    return {"objects": len(kept), "tables": sum(len(t) for t in state["glue"].values())}


def restore(clients: Any, made: LocalResources, state_dir: Path) -> int:
    """Put a saved state back into a fresh stack; returns the number of S3 objects restored."""
    state = _read_state(state_dir)
    if not state:
        return 0
    s3 = clients("s3")

    def put(marker: str) -> int:
        bucket, key = marker.split("/", 1)
        path = state_dir / "s3" / bucket / key
        if not path.exists():
            return 0
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        return 1

    with ThreadPoolExecutor(COPY_THREADS) as pool:  # a demo lake is thousands of objects
        restored = sum(pool.map(put, state.get("etags", {})))
    glue = clients("glue")
    for database, tables in state.get("glue", {}).items():
        for table_input in tables:
            try:
                glue.create_table(DatabaseName=database, TableInput=table_input)
            except glue.exceptions.AlreadyExistsException:
                glue.update_table(DatabaseName=database, TableInput=table_input)
    dynamodb = clients("dynamodb")
    batches = [
        (table, items[i : i + DYNAMODB_BATCH])
        for table, items in state.get("dynamodb", {}).items()
        for i in range(0, len(items), DYNAMODB_BATCH)
    ]

    def write(batch: tuple[str, list[dict[str, Any]]]) -> None:
        # tens of thousands of identity index items after a demo: 25 a request, not one
        pending: dict[str, Any] = {batch[0]: [{"PutRequest": {"Item": item}} for item in batch[1]]}
        pause = 0.05
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if pending:
                time.sleep(pause)
                pause = min(1.0, pause * 2)

    with ThreadPoolExecutor(COPY_THREADS) as pool:
        list(pool.map(write, batches))
    _restore_secrets(clients("secretsmanager"), state.get("secrets", []))
    sqs = clients("sqs")
    for logical, bodies in state.get("sqs", {}).items():
        url = made.queues.get(logical)
        for body in bodies if url else []:
            extra = (
                {"MessageGroupId": body["group"], "MessageDeduplicationId": body["dedup"]}
                if body.get("group")
                else {}
            )
            sqs.send_message(QueueUrl=url, MessageBody=body["body"], **extra)
    return restored


def _read_state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


_GLUE_TABLE_KEYS = ("Name", "Description", "TableType", "Parameters", "StorageDescriptor", "PartitionKeys")


def _dump_glue(glue: Any, made: LocalResources) -> dict[str, list[dict[str, Any]]]:
    saved: dict[str, list[dict[str, Any]]] = {}
    for database in made.glue_databases.values():
        tables = []
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
            for table in page["TableList"]:
                tables.append({k: table[k] for k in _GLUE_TABLE_KEYS if k in table})
        saved[database] = json.loads(json.dumps(tables, default=str))
    return saved


def _dump_dynamodb(dynamodb: Any, made: LocalResources) -> dict[str, list[dict[str, Any]]]:
    saved: dict[str, list[dict[str, Any]]] = {}
    for table in made.tables.values():
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
        saved[table] = json.loads(json.dumps(items, default=str))
    return saved


def _dump_secrets(manager: Any) -> list[dict[str, str]]:
    """Each secret's current value, and its previous one during a rotation."""
    saved: list[dict[str, str]] = []
    for page in manager.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            entry = {"name": secret["Name"]}
            for stage, key in (("AWSCURRENT", "current"), ("AWSPREVIOUS", "previous")):
                try:
                    answer = manager.get_secret_value(SecretId=secret["ARN"], VersionStage=stage)
                except manager.exceptions.ResourceNotFoundException:
                    continue
                entry[key] = answer["SecretString"]
            if "current" in entry:
                saved.append(entry)
    return saved


def _restore_secrets(manager: Any, saved: list[dict[str, str]]) -> None:
    """Recreate secrets oldest value first, so that Secrets Manager labels them as they were."""
    for entry in saved:
        values = [entry["previous"], entry["current"]] if "previous" in entry else [entry["current"]]
        try:
            manager.create_secret(Name=entry["name"], SecretString=values[0])
        except manager.exceptions.ResourceExistsException:
            continue
        for value in values[1:]:
            manager.put_secret_value(SecretId=entry["name"], SecretString=value)


def _drain_sqs(sqs: Any, made: LocalResources) -> dict[str, list[dict[str, str]]]:
    saved: dict[str, list[dict[str, str]]] = {}
    for logical, url in made.queues.items():
        bodies: list[dict[str, str]] = []
        while True:
            answer = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, AttributeNames=["All"]
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for m in messages:
                attrs = m.get("Attributes", {})
                bodies.append(
                    {
                        "body": m["Body"],
                        "group": attrs.get("MessageGroupId", ""),
                        "dedup": attrs.get("MessageDeduplicationId", ""),
                    }
                )
        if bodies:
            saved[logical] = bodies
    return saved

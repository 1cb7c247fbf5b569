"""The local stack's ad platforms: the fake Meta Graph API and the fake Google Ads API served next to
moto, their lists kept in the state folder (``platforms.json``) across ``down`` / ``up`` — as the
sync ledgers in the lake are — and the credentials secrets (``<prefix>/platforms/meta``,
``<prefix>/platforms/google``) pointing at them, so that the audiences function and ``forecourt
audiences sync`` send to them exactly as they would to the real platforms.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecourt.local.fake_google_ads import FakeGoogleAds
from forecourt.local.fake_google_conversions import ConversionUploads
from forecourt.local.fake_meta import FakeMeta

STATE_FILE = "platforms.json"
META_AD_ACCOUNT = "act_1000000001"
META_DATASET = "1000000000000001"
GOOGLE_ACTIONS = {"appointment_set": "7001", "shown": "7002", "sold": "7003"}
"""The local Google customer's conversion actions, one per lead stage (conversion action ids)."""


@dataclass
class Platforms:
    meta: FakeMeta
    google: FakeGoogleAds
    conversions: ConversionUploads

    @property
    def urls(self) -> dict[str, str]:
        return {"meta": self.meta.url, "google": self.google.url}


def start(state_dir: Path) -> Platforms:
    """Serve both fakes with the lists saved in ``state_dir``; point the secrets at them."""
    google = FakeGoogleAds().__enter__()
    uploads = ConversionUploads(set(GOOGLE_ACTIONS.values())).install(google)
    platforms = Platforms(FakeMeta(access_token="local-meta-token").__enter__(), google, uploads)  # noqa: S106
    saved = _read(state_dir)
    platforms.meta.restore(saved.get("meta") or {})
    platforms.google.restore(saved.get("google") or {})
    _connect(platforms)
    return platforms


def save(platforms: Platforms, state_dir: Path) -> None:
    path = state_dir / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"meta": platforms.meta.saved(), "google": platforms.google.saved()}))
    os.replace(tmp, path)


def stop(platforms: Platforms) -> None:
    platforms.meta.__exit__(None, None, None)
    platforms.google.__exit__(None, None, None)


def lists(urls: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Platform → each list it holds (id, name, member count), asked of the running fakes."""
    found: dict[str, list[dict[str, Any]]] = {}
    for platform, url in urls.items():
        with urllib.request.urlopen(f"{url}/_fake/lists", timeout=10) as answer:  # noqa: S310 (loopback)
            found[platform] = list(json.loads(answer.read()))
    return found


def _connect(platforms: Platforms) -> None:
    from forecourt import aws
    from forecourt.audiences import google_ads_api, meta_api

    secrets = {
        meta_api.secret_name(): {
            "access_token": platforms.meta.access_token,
            "ad_account_id": META_AD_ACCOUNT,
            "dataset_id": META_DATASET,
            "base_url": platforms.meta.url,
        },
        google_ads_api.secret_name(): platforms.google.credentials()
        | {
            "conversion_actions": {
                stage: f"customers/{platforms.google.customer_id}/conversionActions/{action}"
                for stage, action in GOOGLE_ACTIONS.items()
            }
        },
    }
    manager = aws.client("secretsmanager")
    for name, value in secrets.items():
        text = json.dumps(value)
        try:
            manager.put_secret_value(SecretId=name, SecretString=text)
        except manager.exceptions.ResourceNotFoundException:
            manager.create_secret(Name=name, SecretString=text)


def _read(state_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state_dir / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return {}

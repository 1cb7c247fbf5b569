"""Fixtures for infrastructure tests: template.yaml as written and as CloudFormation after the SAM transform.

The transform runs offline (ARCHITECTURE §10): a region in the environment, a managed-policy loader
that knows no policies, and local ``CodeUri``/``ContentUri`` replaced by ``s3://`` URIs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from samtranslator.translator.transform import transform

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
_LOCAL_CODE_PROPERTIES = ("CodeUri", "ContentUri")


class _NoManagedPolicies:
    """Managed-policy loader for the SAM translator that needs no AWS call."""

    def load(self) -> dict[str, str]:
        return {}


def _with_remote_code(template: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``template`` whose local code locations point at a dummy S3 object."""
    remote = copy.deepcopy(template)
    for resource in remote.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for name in _LOCAL_CODE_PROPERTIES:
            if isinstance(properties.get(name), str):
                properties[name] = "s3://forecourt-test-artifacts/code.zip"
    return remote


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def template_path() -> Path:
    """Path of the SAM template under test."""
    return TEMPLATE_PATH


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml parsed with CloudFormation tags resolved to their long form (plain dicts)."""
    decoded = cfn_yaml.load(str(TEMPLATE_PATH))
    return json.loads(json.dumps(decoded))


@pytest.fixture(scope="session")
def cfn(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template the SAM transform produces from template.yaml."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(_with_remote_code(sam_template), {}, _NoManagedPolicies())


@pytest.fixture(scope="session")
def resources(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The transformed template's resources by logical id."""
    return cfn["Resources"]

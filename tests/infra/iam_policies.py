"""A role's inline policies from the transformed template, rendered with a test's own names for the
resources they name (shared by the IAM tests; no IAM logic here)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Resources = dict[str, dict[str, Any]]
Names = Callable[[str], str]
"""What a name of the template stands for: a parameter or pseudo parameter (``Stage``,
``AWS::Region``), a resource's logical id (its ``Ref``) or ``LogicalId.Attribute`` (its
``Fn::GetAtt``)."""


def render(value: Any, names: Names) -> Any:
    """``value`` with the CloudFormation intrinsics of a policy (``Fn::Sub``, ``Fn::GetAtt``,
    ``Ref``) replaced by what ``names`` says they stand for."""
    if isinstance(value, list):
        return [render(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{([^}]+)\}", lambda m: names(m.group(1)), text)
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return names(".".join(target) if isinstance(target, list) else target)
    if "Ref" in value:
        return names(value["Ref"])
    return {key: render(item, names) for key, item in value.items()}


def role_policies(resources: Resources, role: str, names: Names) -> dict[str, dict[str, Any]]:
    """A role's inline policies by name, rendered (SAM's own policies omit Version; they use no
    policy variables)."""
    return {
        policy["PolicyName"]: {"Version": "2012-10-17", **render(policy["PolicyDocument"], names)}
        for policy in resources[role]["Properties"].get("Policies", [])
    }

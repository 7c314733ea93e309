"""Reading synthesized CloudFormation: resources by type, flattened ARNs, a role's statements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.spec.config import EnvironmentConfig

Resources = dict[str, dict[str, Any]]


def resources(template: dict[str, Any], kind: str) -> Resources:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def flatten(value: Any) -> str:
    """An intrinsic as a readable string: ``{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ...]]}``
    becomes ``arn:${AWS::Partition}...``; ``Fn::GetAtt`` becomes ``${Logical.Attr}``; an output read from
    another stack (``Fn::GetStackOutput``) becomes ``${<stack>.<output>}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"${{{arg}}}"
        if fn == "Fn::GetAtt":
            return f"${{{'.'.join(arg)}}}"
        if fn == "Fn::Join":
            separator, parts = arg
            return str(separator).join(flatten(part) for part in parts)
        if fn == "Fn::ImportValue":
            return f"${{Import:{flatten(arg)}}}"
        if fn == "Fn::GetStackOutput":
            return f"${{{arg['StackName']}.{arg['OutputName']}}}"
        if fn == "Fn::Sub":
            return str(arg if isinstance(arg, str) else arg[0])
    raise AssertionError(f"cannot flatten {value!r}")


def data_output(config: EnvironmentConfig) -> str:
    """How ``flatten`` spells a value another stack reads from the data stack's outputs (its prefix)."""
    return f"${{{config.resource_name('data')}."


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Grant:
    """One (action, resource) pair of an Allow statement, with its condition."""

    action: str
    resource: str
    condition: str = ""


def role_grants(template: dict[str, Any], role_id: str) -> set[Grant]:
    """Every allowed (action, resource) of a role: inline policies and attached AWS::IAM::Policy."""
    documents = [p["PolicyDocument"] for p in template["Resources"][role_id]["Properties"].get("Policies", [])]
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            documents.append(policy["Properties"]["PolicyDocument"])
    grants = set()
    for document in documents:
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow", statement
            condition = repr(sorted(statement.get("Condition", {}).items()))
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    grants.add(Grant(action, flatten(resource), condition if statement.get("Condition") else ""))
    return grants


def function_roles(template: dict[str, Any]) -> dict[str, str]:
    """FunctionName -> logical id of its role."""
    return {
        fn["Properties"]["FunctionName"]: fn["Properties"]["Role"]["Fn::GetAtt"][0]
        for fn in resources(template, "AWS::Lambda::Function").values()
    }

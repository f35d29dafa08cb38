"""`gristmill apply -f lifecycle.yaml`: hand each part of the spec to the service that owns it.

The spec mirrors the services' protobuf messages (JSON names, camelCase or snake_case), so an
unknown or misspelled key is an error naming the key, exactly as the service would see it. Enum
values may be written short: `consensus: weighted` for CONSENSUS_METHOD_WEIGHTED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

API_VERSION = "gristmill.io/v1"
KIND = "Lifecycle"


class SpecError(ValueError):
    pass


def expand_enums(value: Any, desc: Descriptor) -> Any:
    """Rewrite short enum names (`weighted`) to full ones (`CONSENSUS_METHOD_WEIGHTED`), recursively."""
    if not isinstance(value, dict):
        return value
    fields = {**{f.name: f for f in desc.fields}, **{f.json_name: f for f in desc.fields}}
    out = {}
    for key, v in value.items():
        f = fields.get(key)
        if f is None:
            out[key] = v
        elif f.type == FieldDescriptor.TYPE_ENUM:
            out[key] = [_enum(x, f) for x in v] if isinstance(v, list) else _enum(v, f)
        elif f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name.startswith("gristmill."):
            sub = f.message_type
            out[key] = [expand_enums(x, sub) for x in v] if isinstance(v, list) else expand_enums(v, sub)
        else:
            out[key] = v
    return out


def _enum(v: Any, f: FieldDescriptor) -> Any:
    if not isinstance(v, str):
        return v
    names = [e.name for e in f.enum_type.values]
    if v in names:
        return v
    matches = [n for n in names if n.lower().endswith("_" + v.lower().replace("-", "_"))]
    if len(matches) != 1:
        short = [n.split("_", 2)[-1].lower() for n in names if not n.endswith("UNSPECIFIED")]
        raise SpecError(f"{f.name}: {v!r} is not one of {short}")
    return matches[0]


def to_message(section: str, doc: dict, cls: type[Message], project: str) -> Message:
    doc = {"project": project, **(doc or {})} if "project" in cls.DESCRIPTOR.fields_by_name else dict(doc or {})
    try:
        return json_format.ParseDict(expand_enums(doc, cls.DESCRIPTOR), cls())
    except json_format.ParseError as exc:
        raise SpecError(f"spec.{section}: {exc}") from exc


@dataclass
class Section:
    """One part of the spec: the message it parses into and how to hand it to its service."""

    name: str
    service: str
    message: type[Message]
    send: Callable[[grpc.Channel, Message], Message]


def load(path: Path) -> dict:
    doc = yaml.safe_load(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise SpecError(f"{path}: expected apiVersion {API_VERSION} and kind {KIND}")
    if not doc.get("metadata", {}).get("name"):
        raise SpecError(f"{path}: metadata.name (the project) is required")
    return doc


def sections() -> list[Section]:
    from gristmill.labeling.v1 import labeling_pb2 as lab
    from gristmill.labeling.v1 import labeling_pb2_grpc as lab_grpc
    from gristmill.preprocessing.v1 import preprocessing_pb2 as pre
    from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pre_grpc

    out = [
        Section("labeling", "labeling", lab.LabelingPolicy,
                lambda ch, m: lab_grpc.LabelingServiceStub(ch).PutPolicy(lab.PutPolicyRequest(policy=m))),
        Section("features", "preprocessing", pre.FeatureSpec,
                lambda ch, m: pre_grpc.PreprocessingServiceStub(ch).PutFeatureSpec(pre.PutFeatureSpecRequest(spec=m))),
    ]
    return out + model_sections()


def model_sections() -> list[Section]:
    """Sections owned by the model half (training, evaluation, deployment, monitoring)."""
    from gristmill.deployment.v1 import deployment_pb2 as dep
    from gristmill.deployment.v1 import deployment_pb2_grpc as dep_grpc
    from gristmill.evaluation.v1 import evaluation_pb2 as evl
    from gristmill.evaluation.v1 import evaluation_pb2_grpc as evl_grpc
    from gristmill.monitoring.v1 import monitoring_pb2 as mon
    from gristmill.monitoring.v1 import monitoring_pb2_grpc as mon_grpc
    from gristmill.training.v1 import training_pb2 as trn
    from gristmill.training.v1 import training_pb2_grpc as trn_grpc

    return [
        Section("training", "training", trn.TrainingPolicy,
                lambda ch, m: trn_grpc.TrainingServiceStub(ch).PutTrainingPolicy(
                    trn.PutTrainingPolicyRequest(policy=m))),
        Section("evaluation", "evaluation", evl.GatePolicy,
                lambda ch, m: evl_grpc.EvaluationServiceStub(ch).PutGatePolicy(evl.PutGatePolicyRequest(policy=m))),
        Section("rollout", "deployment", dep.RolloutPolicy,
                lambda ch, m: dep_grpc.DeploymentServiceStub(ch).PutRolloutPolicy(
                    dep.PutRolloutPolicyRequest(policy=m))),
        Section("monitoring", "monitoring", mon.AlertRules,
                lambda ch, m: mon_grpc.MonitoringServiceStub(ch).PutAlertRules(mon.PutAlertRulesRequest(rules=m))),
    ]


def plan(doc: dict) -> list[tuple[Section, Message]]:
    """Parse every section first, so a bad spec changes nothing anywhere."""
    project = doc["metadata"]["name"]
    spec = doc.get("spec") or {}
    known = {s.name: s for s in sections()}
    unknown = set(spec) - set(known) - {"data"}
    if unknown:
        raise SpecError(f"unknown spec sections {sorted(unknown)}; known: {sorted(known) + ['data']}")
    return [(known[name], to_message(name, spec[name], known[name].message, project))
            for name in known if name in spec]

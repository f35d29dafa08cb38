"""Proto <-> domain for training."""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from gristmill.common.v1 import common_pb2
from gristmill.training.v1 import training_pb2 as pb
from services.common.convert import ts
from services.training.domain import ModelSpec, Policy, TrainingSpec
from services.training.events import TASK_NAMES, _artifact
from services.training.tables import EpochRow, ModelVersionRow, RunRow

TASKS = {v: k for k, v in TASK_NAMES.items()}
STATES = {"QUEUED": pb.RUN_STATE_QUEUED, "RUNNING": pb.RUN_STATE_RUNNING, "SUCCEEDED": pb.RUN_STATE_SUCCEEDED,
          "FAILED": pb.RUN_STATE_FAILED, "CANCELLED": pb.RUN_STATE_CANCELLED}
_PARAM_FIELDS = ("learning_rate", "epochs", "batch_size", "optimizer", "momentum", "weight_decay",
                 "early_stopping_patience", "lr_schedule", "seed")


def struct_to_dict(s: Struct) -> dict:
    return json_format.MessageToDict(s) if s is not None else {}


def dict_to_struct(d: dict) -> Struct:
    out = Struct()
    out.update(d or {})
    return out


def model_spec_from_proto(m: pb.ModelSpec) -> ModelSpec:
    return ModelSpec(architecture=m.architecture.strip().lower(), params=struct_to_dict(m.params),
                     finetune_from=m.finetune_from, freeze=list(m.freeze), new_head=m.new_head)


def model_spec_to_proto(m: ModelSpec) -> pb.ModelSpec:
    return pb.ModelSpec(architecture=m.architecture, params=dict_to_struct(m.params), finetune_from=m.finetune_from,
                        freeze=m.freeze, new_head=m.new_head)


def params_from_proto(p: pb.TrainingParams) -> dict:
    return {f: getattr(p, f) for f in _PARAM_FIELDS if getattr(p, f) not in (0, 0.0, "")}


def params_to_proto(d: dict) -> pb.TrainingParams:
    return pb.TrainingParams(**{k: v for k, v in d.items() if k in _PARAM_FIELDS})


def spec_from_proto(s: pb.TrainingSpec) -> TrainingSpec:
    return TrainingSpec(project=s.project.strip(), feature_set_id=s.feature_set_id.strip(),
                        model=model_spec_from_proto(s.model), params=params_from_proto(s.params),
                        correlation_id=s.correlation_id)


def spec_to_proto(s: TrainingSpec) -> pb.TrainingSpec:
    return pb.TrainingSpec(project=s.project, feature_set_id=s.feature_set_id, model=model_spec_to_proto(s.model),
                           params=params_to_proto(s.params), correlation_id=s.correlation_id)


def run_to_proto(r: RunRow) -> pb.Run:
    return pb.Run(run_id=r.run_id, spec=spec_to_proto(TrainingSpec.from_dict(json.loads(r.spec))),
                  state=STATES[r.state], message=r.message, epochs_done=r.epochs_done,
                  model_version_id=r.model_version_id, trigger=r.trigger, kfp_run_id=r.kfp_run_id,
                  created_at=ts(r.created_at), finished_at=ts(r.finished_at), started_at=ts(r.started_at),
                  resumed_from_epoch=r.resumed_from_epoch, attempts=r.attempts, executor=r.executor)


def epoch_to_proto(e: EpochRow) -> pb.EpochMetrics:
    return pb.EpochMetrics(run_id=e.run_id, epoch=e.epoch, train_loss=e.train_loss, val_loss=e.val_loss,
                           train_metric=e.train_metric, val_metric=e.val_metric, metric_name=e.metric_name,
                           learning_rate=e.learning_rate, seconds=e.seconds)


def model_version_to_proto(m: ModelVersionRow) -> pb.ModelVersion:
    return pb.ModelVersion(
        model_version_id=m.model_version_id, project=m.project, run_id=m.run_id, feature_set_id=m.feature_set_id,
        task=TASKS.get(m.task, common_pb2.TASK_UNSPECIFIED), architecture=m.architecture,
        weights=_artifact(json.loads(m.weights)), model_card=_artifact(json.loads(m.card)),
        curve_plot=_artifact(json.loads(m.curve)), metrics=json.loads(m.metrics), created_at=ts(m.created_at),
        transform=_artifact(json.loads(m.transform)), dataset_version_id=m.dataset_version_id,
        finetuned_from=m.finetuned_from, trigger=m.trigger)


def policy_from_proto(p: pb.TrainingPolicy) -> Policy:
    return Policy(project=p.project.strip(), auto_train=p.auto_train, model=model_spec_from_proto(p.model),
                  params=params_from_proto(p.params), retrain_on_drift=p.retrain_on_drift)


def policy_to_proto(p: Policy) -> pb.TrainingPolicy:
    return pb.TrainingPolicy(project=p.project, auto_train=p.auto_train, model=model_spec_to_proto(p.model),
                             params=params_to_proto(p.params), revision=p.revision, updated_at=ts(p.updated_at),
                             retrain_on_drift=p.retrain_on_drift, retrain_pending=p.retrain_pending)

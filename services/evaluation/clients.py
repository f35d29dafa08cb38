"""The training service as evaluation sees it: a gRPC client that speaks domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.struct_pb2 import Struct

from gristmill.training.v1 import training_pb2 as tpb
from gristmill.training.v1 import training_pb2_grpc as tpb_grpc
from services.common import errors

_CODES = {grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument, grpc.StatusCode.NOT_FOUND: errors.NotFound,
          grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
          grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
          grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted}
_STATES = {tpb.RUN_STATE_QUEUED: "QUEUED", tpb.RUN_STATE_RUNNING: "RUNNING", tpb.RUN_STATE_SUCCEEDED: "SUCCEEDED",
           tpb.RUN_STATE_FAILED: "FAILED", tpb.RUN_STATE_CANCELLED: "CANCELLED"}
_HPARAMS = ("learning_rate", "epochs", "batch_size", "optimizer", "momentum", "weight_decay",
            "early_stopping_patience", "lr_schedule", "seed")
_INT_HPARAMS = ("epochs", "batch_size", "early_stopping_patience", "seed")


def _domain_error(exc: grpc.RpcError, address: str) -> errors.GristmillError:
    cls = _CODES.get(exc.code())
    if cls is not None:
        return cls(f"training: {exc.details()}")
    return errors.Unavailable(f"training service at {address} failed: {exc.code().name}: {exc.details()}")


def _ref(r) -> dict[str, Any]:
    return {"uri": r.uri, "sha256": r.sha256, "size_bytes": r.size_bytes}


class TrainingClient:
    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self.address, self.timeout = address, timeout
        self._channel = grpc.insecure_channel(address)
        self._stub = tpb_grpc.TrainingServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, fn, request, **kw):
        try:
            return fn(request, timeout=kw.pop("timeout", self.timeout), **kw)
        except grpc.RpcError as exc:
            raise _domain_error(exc, self.address) from exc

    def get_model_version(self, model_version_id: str) -> dict[str, Any]:
        mv = self._call(self._stub.GetModelVersion, tpb.GetModelVersionRequest(model_version_id=model_version_id))
        return {"model_version_id": mv.model_version_id, "project": mv.project, "run_id": mv.run_id,
                "feature_set_id": mv.feature_set_id, "weights": _ref(mv.weights), "card": _ref(mv.model_card),
                "trigger": mv.trigger, "metrics": dict(mv.metrics)}

    def submit(self, project: str, feature_set_id: str, hparams: dict[str, Any], architecture: str = "",
               model_params: dict[str, Any] | None = None, trigger: str = "rpc") -> str:
        params = Struct()
        params.update(model_params or {})
        unknown = sorted(set(hparams) - set(_HPARAMS))
        if unknown:
            raise errors.InvalidArgument(f"unknown training params {unknown}; valid: {list(_HPARAMS)}")
        try:
            values = {k: int(v) if k in _INT_HPARAMS and float(v).is_integer() else v for k, v in hparams.items()}
            tp = tpb.TrainingParams(**values)
        except (TypeError, ValueError) as exc:
            raise errors.InvalidArgument(f"invalid training params {hparams}: {exc}") from exc
        spec = tpb.TrainingSpec(project=project, feature_set_id=feature_set_id,
                                model=tpb.ModelSpec(architecture=architecture, params=params), params=tp)
        return self._call(self._stub.SubmitRun, tpb.SubmitRunRequest(spec=spec, trigger=trigger)).run_id

    def get_run(self, run_id: str) -> dict[str, Any]:
        r = self._call(self._stub.GetRun, tpb.GetRunRequest(run_id=run_id))
        return {"run_id": r.run_id, "state": _STATES.get(r.state, "UNKNOWN"), "message": r.message,
                "model_version_id": r.model_version_id, "epochs_done": r.epochs_done}

    def cancel(self, run_id: str) -> str:
        """Cancel a run; returns the state it ended in (it may have finished on its own meanwhile)."""
        try:
            r = self._call(self._stub.CancelRun, tpb.CancelRunRequest(run_id=run_id))
            return _STATES.get(r.state, "UNKNOWN")
        except errors.FailedPrecondition:
            return self.get_run(run_id)["state"]

    def stream_metrics(self, run_id: str, timeout: float = 3600.0) -> Iterator[dict[str, float]]:
        try:
            for m in self._stub.StreamRunMetrics(tpb.StreamRunMetricsRequest(run_id=run_id), timeout=timeout):
                yield {"epoch": m.epoch, "val_loss": m.val_loss, "val_metric": m.val_metric,
                       "train_loss": m.train_loss, "train_metric": m.train_metric, "metric_name": m.metric_name}
        except grpc.RpcError as exc:
            raise _domain_error(exc, self.address) from exc

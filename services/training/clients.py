"""gRPC clients training uses (kept out of domain.py, which never imports grpc)."""

from __future__ import annotations

import grpc

from gristmill.preprocessing.v1 import preprocessing_pb2 as pp
from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pp_grpc
from services.common.errors import NotFound
from services.training.domain import FeatureSetInfo
from services.training.events import TASK_NAMES


class PreprocessingLookup:
    """Fetches a feature set the service has not heard of through FeaturesReady."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.address, self.timeout = address, timeout
        self._channel = grpc.insecure_channel(address)
        self._stub = pp_grpc.PreprocessingServiceStub(self._channel)

    def __call__(self, feature_set_id: str) -> FeatureSetInfo | None:
        try:
            fs = self._stub.GetFeatureSet(pp.GetFeatureSetRequest(feature_set_id=feature_set_id),
                                          timeout=self.timeout)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"feature set {feature_set_id} does not exist (preprocessing at "
                               f"{self.address} does not know it)") from exc
            return None  # unreachable: the caller reports the feature set as unknown
        ref = lambda r: {"uri": r.uri, "sha256": r.sha256, "size_bytes": r.size_bytes}  # noqa: E731
        return FeatureSetInfo(
            feature_set_id=fs.feature_set_id, project=fs.project, dataset_version_id=fs.dataset_version_id,
            task=TASK_NAMES.get(fs.task, "classification"), input_shape=[int(d) for d in fs.input_shape],
            num_classes=fs.num_classes, class_names=list(fs.class_names),
            splits={"train": ref(fs.train), "validation": ref(fs.validation), "test": ref(fs.test)},
            transform=ref(fs.transform), split_rows=dict(fs.split_rows))

    def close(self) -> None:
        self._channel.close()

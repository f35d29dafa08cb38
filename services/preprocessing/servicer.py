"""gRPC servicer: validate, convert, delegate."""

from __future__ import annotations

from gristmill.preprocessing.v1 import preprocessing_pb2 as pb
from gristmill.preprocessing.v1 import preprocessing_pb2_grpc as pb_grpc
from services.common.convert import artifact_from_ref
from services.common.errors import require
from services.preprocessing import convert
from services.preprocessing.domain import Preprocessing


class PreprocessingServicer(pb_grpc.PreprocessingServiceServicer):
    def __init__(self, domain: Preprocessing) -> None:
        self.domain = domain

    def PutFeatureSpec(self, request: pb.PutFeatureSpecRequest, context) -> pb.FeatureSpec:
        require(request.HasField("spec"), "spec is required")
        return convert.spec_to_proto(self.domain.put_spec(convert.spec_from_proto(request.spec)))

    def GetFeatureSpec(self, request: pb.GetFeatureSpecRequest, context) -> pb.FeatureSpec:
        return convert.spec_to_proto(self.domain.get_spec(request.project))

    def BuildFeatureSet(self, request: pb.BuildFeatureSetRequest, context) -> pb.FeatureSet:
        row, _ = self.domain.build_feature_set(request.project, request.dataset_version_id,
                                               artifact_from_ref(request.data),
                                               correlation_id=request.correlation_id)
        return convert.feature_set_to_proto(row)

    def GetFeatureSet(self, request: pb.GetFeatureSetRequest, context) -> pb.FeatureSet:
        return convert.feature_set_to_proto(self.domain.get_feature_set(request.feature_set_id))

    def ListFeatureSets(self, request: pb.ListFeatureSetsRequest, context) -> pb.ListFeatureSetsResponse:
        rows, token = self.domain.list_feature_sets(request.project, request.page_size, request.page_token)
        return pb.ListFeatureSetsResponse(feature_sets=[convert.feature_set_to_proto(r) for r in rows],
                                          next_page_token=token)

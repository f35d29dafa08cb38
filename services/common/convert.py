"""Proto <-> domain helpers used by every service's convert.py."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp

from gristmill.common.v1 import common_pb2
from services.common.artifacts import Artifact


def ts(value: dt.datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    return out


def artifact_ref(a: Artifact | None) -> common_pb2.ArtifactRef | None:
    if a is None:
        return None
    return common_pb2.ArtifactRef(uri=a.uri, sha256=a.sha256, size_bytes=a.size_bytes, media_type=a.media_type)


def artifact_from_ref(ref: common_pb2.ArtifactRef) -> Artifact:
    return Artifact(ref.uri, ref.sha256, ref.size_bytes, ref.media_type)

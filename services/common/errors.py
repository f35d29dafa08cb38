"""Domain errors. Domain code raises these; the gRPC interceptor maps them to status codes.

They carry a status *name* rather than a grpc enum so domain modules never import grpc.
"""

from __future__ import annotations


class GristmillError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(GristmillError):
    code = "INVALID_ARGUMENT"


class NotFound(GristmillError):
    code = "NOT_FOUND"


class AlreadyExists(GristmillError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(GristmillError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(GristmillError):
    code = "RESOURCE_EXHAUSTED"


class Unavailable(GristmillError):
    code = "UNAVAILABLE"


class Aborted(GristmillError):
    code = "ABORTED"


def require(condition: object, message: str) -> None:
    """Raise InvalidArgument(message) unless condition holds."""
    if not condition:
        raise InvalidArgument(message)

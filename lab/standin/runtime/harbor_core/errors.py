"""Errors as Harbor's API answers them: ``{"errors": [{"code", "message"}]}``."""


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def unauthorized(message="unauthorized"):
    return ApiError(401, "UNAUTHORIZED", message)


def forbidden(message="forbidden"):
    return ApiError(403, "FORBIDDEN", message)


def not_found(message):
    return ApiError(404, "NOT_FOUND", message)


def bad_request(message):
    return ApiError(400, "BAD_REQUEST", message)


def conflict(message):
    return ApiError(409, "CONFLICT", message)


def precondition(message):
    return ApiError(412, "PRECONDITION", message)


def internal_error():
    """What Harbor shows of any error it has no code for."""
    return ApiError(500, "UNKNOWN", "internal server error")

package dev.starattn.app.serve;

/** An error answered in OpenAI's shape: {@code {"error": {"message", "type", "code"}}} with an HTTP status. */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String code;

    ApiError(int status, String type, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.code = code;
    }

    static ApiError badRequest(String code, String message) {
        return new ApiError(400, "invalid_request_error", code, message);
    }

    static ApiError notFound(String code, String message) {
        return new ApiError(404, "invalid_request_error", code, message);
    }

    static ApiError queueFull() {
        return new ApiError(429, "rate_limit_error", "queue_full",
                "the server is busy: every request slot and queue place is taken; retry later");
    }

    static ApiError timeout(String what) {
        return new ApiError(504, "timeout_error", "request_timeout", "the request timed out " + what);
    }
}

package dev.starattn.app.serve;

/** An error answered in OpenAI's shape: {@code {"error": {"message", "type", "code"}}} with an HTTP status. */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String code;
    /** The request field at fault, or null. */
    final String param;

    ApiError(int status, String type, String code, String message) {
        this(status, type, code, message, null);
    }

    ApiError(int status, String type, String code, String message, String param) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
    }

    static ApiError badField(String param, String code, String message) {
        return new ApiError(400, "invalid_request_error", code, message, param);
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

    /** The client closed its connection: nobody reads the answer (nginx's 499, for logs and metrics). */
    static ApiError clientGone() {
        return new ApiError(499, "invalid_request_error", "client_closed_request", "the client closed the connection");
    }

    static ApiError timeout(String what) {
        return new ApiError(504, "timeout_error", "request_timeout", "the request timed out " + what);
    }
}

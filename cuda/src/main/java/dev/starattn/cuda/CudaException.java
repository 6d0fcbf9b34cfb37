package dev.starattn.cuda;

/** A CUDA failure, or no usable GPU: the message says what a person can do about it. */
public class CudaException extends IllegalStateException {
    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.adder.client;

/**
 * A call to an adder server failed: it could not connect, the server closed
 * the connection, or the call timed out. The message names the address and
 * what failed. The connection is closed; the next call connects again.
 */
public class AdderException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** Set where the failure is made, before it is shared. */
    private FailureKind kind;

    /**
     * A failure with a message and, where there is one, its cause.
     *
     * @param message what failed, naming the address
     * @param cause the underlying failure, or null
     */
    public AdderException(String message, Throwable cause) {
        super(message, cause);
        this.kind = this instanceof AdderTimeoutException ? FailureKind.TIMEOUT
                : cause instanceof AdderException same ? same.kind : FailureKind.OTHER;
    }

    /**
     * What kind of failure this is, as the client tells them apart; a copy of a failure (the
     * exception a blocking caller gets, whose cause is the failure the calls shared) is of its kind.
     *
     * @return the kind; {@link FailureKind#OTHER} for one made outside the client
     */
    public FailureKind kind() {
        return kind;
    }

    /** Marks this failure as of {@code kind}, where the client makes it; returns it. */
    AdderException as(FailureKind kind) {
        this.kind = kind;
        return this;
    }
}

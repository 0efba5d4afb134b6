package dev.adder.client;

/**
 * A call to an adder server failed: it could not connect, the server closed
 * the connection, or the call timed out. The message names the address and
 * what failed. The connection is closed; the next call connects again.
 */
public class AdderException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * A failure with a message and, where there is one, its cause.
     *
     * @param message what failed, naming the address
     * @param cause the underlying failure, or null
     */
    public AdderException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.adder.client;

/**
 * The connection failed under the calls (reset, end of stream, a failed
 * write) or could not be made (refused, no socket file): nothing about the
 * calls themselves, so with replay on they are sent again on a new
 * connection. Callers see it as an {@link AdderException} with the same
 * message when replay is off or the call runs out of time.
 */
final class ConnectionLostException extends AdderException {

    private static final long serialVersionUID = 1L;

    /** True if a connection could not be made; false if one was lost with calls on it. */
    final boolean connecting;

    ConnectionLostException(String message, Throwable cause, boolean connecting) {
        super(message, cause);
        this.connecting = connecting;
    }

    /** The loss behind a failure as a caller sees it (the failure itself, or its cause), or null. */
    static ConnectionLostException of(Throwable failure) {
        if (failure instanceof ConnectionLostException lost) {
            return lost;
        }
        return failure != null && failure.getCause() instanceof ConnectionLostException lost ? lost : null;
    }
}

package dev.adder.client;

/** A connect or a call took longer than its timeout. */
public class AdderTimeoutException extends AdderException {

    private static final long serialVersionUID = 1L;

    /**
     * A timeout, described by its message.
     *
     * @param message what timed out, naming the address
     */
    public AdderTimeoutException(String message) {
        super(message, null);
    }
}

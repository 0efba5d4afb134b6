package dev.adder.client;

/** A connect or a call took longer than its timeout. */
public class AdderTimeoutException extends AdderException {

    private static final long serialVersionUID = 1L;

    /** A timeout, described by its message. */
    public AdderTimeoutException(String message) {
        super(message, null);
    }
}

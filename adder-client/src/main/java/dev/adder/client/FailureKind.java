package dev.adder.client;

/**
 * What kind of failure an {@link AdderException} reports, as the client tells
 * them apart: see {@link AdderException#kind()}.
 */
public enum FailureKind {
    /** The call, a wait for room, or a connect took longer than its timeout ({@link AdderTimeoutException}). */
    TIMEOUT,
    /** No connection could be had: refused, no socket file, an unknown host, a TLS handshake that failed. */
    CONNECT,
    /** The connection the call was on was lost (reset, closed by the server, a failed write), and it was not replayed. */
    LOST,
    /** The server sent what no request asked for; never replayed. */
    PROTOCOL,
    /** The client was closed while the call was under way. */
    CLOSED,
    /** The caller's thread was interrupted while it waited. */
    INTERRUPTED,
    /** Anything else: a failure of the client's own (its selector, a bug), or one made outside it. */
    OTHER
}

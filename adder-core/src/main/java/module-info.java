/** The adder wire protocol, shared by the server and the client. */
module dev.adder.core {
    exports dev.adder.core;
    // the busy-poll policy of the server's loop and the client's driver; exported to all, not to
    // them alone, since either may be on the class path while this module is not (a test, an embedder)
    exports dev.adder.core.poll;
    // TLS over a non-blocking socket, and the loading of certificates and keys: the server's and the
    // client's, exported to all for the same reason
    exports dev.adder.core.tls;
}

/** The adder wire protocol, shared by the server and the client. */
module dev.adder.core {
    exports dev.adder.core;
}

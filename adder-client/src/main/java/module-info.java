/** The blocking adder client and its command line. */
module dev.adder.client {
    requires transitive dev.adder.core;

    exports dev.adder.client;
}

/** The adder server: an embeddable single-threaded Selector loop, and its daemon. */
module dev.adder.server {
    requires transitive dev.adder.core;
    requires java.management;
    requires org.slf4j;
    // sun.misc.Signal: the daemon answers SIGTERM and SIGINT itself, to exit 0 after a graceful stop
    requires jdk.unsupported;

    exports dev.adder.server;
}

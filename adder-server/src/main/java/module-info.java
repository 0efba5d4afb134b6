/** The adder server: an embeddable single-threaded Selector loop, and its daemon. */
module dev.adder.server {
    requires transitive dev.adder.core;
    requires java.management;
    // TCP_QUICKACK, to acknowledge half a request at once (see SocketConnectionChannel)
    requires jdk.net;
    requires org.slf4j;
    // the daemon's logging backend: in its executable jar only, never required of embedders
    requires static ch.qos.logback.classic;
    requires static ch.qos.logback.core;

    exports dev.adder.server;
}

/** The adder server: an embeddable single-threaded Selector loop, and its daemon. */
module dev.adder.server {
    requires transitive dev.adder.core;
    requires java.management;
    requires org.slf4j;

    exports dev.adder.server;
}

/** The adder server: an embeddable single-threaded Selector loop, and its daemon. */
// the Prometheus client's jars are automatic modules (they name themselves in their manifests)
@SuppressWarnings("requires-automatic")
module dev.adder.server {
    requires transitive dev.adder.core;
    // AdderServer.jmxName() returns a javax.management.ObjectName
    requires transitive java.management;
    // TCP_QUICKACK, to acknowledge half a request at once (see SocketConnectionChannel)
    requires jdk.net;
    // sun.misc.Signal: the daemon reloads its TLS files on SIGHUP (daemon.ReloadOnHangup)
    requires static jdk.unsupported;
    requires org.slf4j;
    // the daemon's logging backend: in its executable jar only, never required of embedders
    requires static ch.qos.logback.classic;
    requires static ch.qos.logback.core;
    // the daemon's /metrics (--metrics): in its executable jar only, never required of embedders
    requires static io.prometheus.metrics.core;
    requires static io.prometheus.metrics.model;
    requires static io.prometheus.metrics.instrumentation.jvm;
    // the text formats' writers (prometheus-metrics-exposition-textformats names itself so); the HTTP
    // side of /metrics is the daemon's own (daemon.ScrapeServer), so jdk.httpserver is not needed
    requires static io.prometheus.writer.text;
    // EscapingScheme, which the writers take
    requires static io.prometheus.metrics.config;

    exports dev.adder.server;
    // the daemon's SLF4J provider, which SLF4J makes by reflection (daemon.DaemonLogProvider): opened to it, not exported
    opens dev.adder.server.daemon to org.slf4j;
}

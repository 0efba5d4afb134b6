package dev.adder.server;

import java.util.List;

/**
 * The statistics of a running {@link AdderServer} as JMX attributes, under
 * the object name {@code dev.adder:type=AdderServer,name=...}.
 */
public interface AdderServerMXBean {

    /** The addresses the server listens on, as {@code unix:PATH} or {@code tcp:HOST:PORT}. */
    List<String> getAddresses();

    /** Whether the event loop is running. */
    boolean isRunning();

    /** Connections open now. */
    long getOpenConnections();

    /** Connections accepted and served since start. */
    long getAcceptedConnections();

    /** Connections refused because the maximum was open. */
    long getRefusedConnections();

    /** Requests answered since start. */
    long getRequests();

    /** Bytes read from clients since start. */
    long getBytesRead();

    /** Bytes written to clients since start. */
    long getBytesWritten();

    /** Bytes of answers waiting now for clients that read slowly. */
    long getPendingOutputBytes();
}

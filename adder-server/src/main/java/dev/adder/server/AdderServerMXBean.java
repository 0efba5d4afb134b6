package dev.adder.server;

import java.util.List;

/**
 * The statistics of a running {@link AdderServer} as JMX attributes, under
 * the object name {@code dev.adder:type=AdderServer,name=...}.
 */
public interface AdderServerMXBean {

    /** {@return the addresses the server listens on, as {@code unix:PATH} or {@code tcp:HOST:PORT}} */
    List<String> getAddresses();

    /** {@return whether the event loop is running} */
    boolean isRunning();

    /** {@return the connections open now} */
    long getOpenConnections();

    /** {@return the connections accepted and served since start} */
    long getAcceptedConnections();

    /** {@return the connections closed as they were accepted: the maximum was open, or their peer was not allowed} */
    long getRefusedConnections();

    /** {@return the requests answered since start} */
    long getRequests();

    /** {@return the bytes read from clients since start} */
    long getBytesRead();

    /** {@return the bytes written to clients since start} */
    long getBytesWritten();

    /** {@return the bytes of answers waiting now for clients that read slowly} */
    long getPendingOutputBytes();

    /** {@return time the event loop has spent working rather than waiting since the start, in nanoseconds} */
    long getLoopBusyNanos();

    /** {@return the share of the last full 10-second window the event loop spent working, from 0 to 1} */
    double getLoopBusyShare();

    /** {@return the longest the event loop worked between two waits over the last 10 to 20 seconds, in milliseconds} */
    double getLoopLongestTurnMillis();
}

package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.lang.management.ManagementFactory;
import java.util.List;
import javax.management.InstanceAlreadyExistsException;
import javax.management.JMException;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A server's statistics as a JMX MXBean, read through the server's public
 * methods, and its registration in the platform MBean server. A name that
 * another MBean holds is never taken over: the server runs without, and logs
 * a warning.
 */
final class JmxStatistics implements AdderServerMXBean {

    private static final Logger log = LoggerFactory.getLogger(JmxStatistics.class);

    private final AdderServer server;

    private JmxStatistics(AdderServer server) {
        this.server = server;
    }

    /** Registers the server's statistics under {@code name}; returns the name, or null if it could not. */
    static ObjectName register(AdderServer server, ObjectName name) {
        try {
            ManagementFactory.getPlatformMBeanServer().registerMBean(new JmxStatistics(server), name);
            return name;
        } catch (InstanceAlreadyExistsException e) {
            log.warn("could not register the adder server's statistics in JMX: the name {} is taken (by another"
                    + " server in this JVM?); give each server its own with jmxName", name);
        } catch (JMException | RuntimeException e) {
            log.warn("could not register the adder server's statistics in JMX as {}: {}", name, e.toString());
        }
        return null;
    }

    /** Unregisters what {@link #register} registered; a failure is logged, never thrown. */
    static void unregister(ObjectName name) {
        try {
            ManagementFactory.getPlatformMBeanServer().unregisterMBean(name);
        } catch (JMException | RuntimeException e) {
            log.debug("could not unregister {}: {}", name, e.toString());
        }
    }

    @Override
    public List<String> getAddresses() {
        return server.addresses().stream().map(AdderAddress::toString).toList();
    }

    @Override
    public boolean isRunning() {
        return server.isRunning();
    }

    @Override
    public long getOpenConnections() {
        return server.stats().openConnections();
    }

    @Override
    public long getAcceptedConnections() {
        return server.stats().accepted();
    }

    @Override
    public long getRefusedConnections() {
        return server.stats().refused();
    }

    @Override
    public long getRequests() {
        return server.stats().requests();
    }

    @Override
    public long getBytesRead() {
        return server.stats().bytesRead();
    }

    @Override
    public long getBytesWritten() {
        return server.stats().bytesWritten();
    }

    @Override
    public long getPendingOutputBytes() {
        return server.stats().pendingOutput();
    }

    @Override
    public long getLoopBusyNanos() {
        return server.stats().busyNanos();
    }

    @Override
    public double getLoopBusyShare() {
        return server.stats().busyShare();
    }

    @Override
    public double getLoopLongestTurnMillis() {
        return server.stats().longestTurnNanos() / 1e6;
    }
}

package dev.adder.server.daemon;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import dev.adder.server.AdderServer;
import org.slf4j.LoggerFactory;

/**
 * The daemon's logging: one line per event on standard output, with
 * timestamps, at INFO. Set up in code rather than from an XML file: logback's
 * XML configuration loads some 600 classes and costs the idle daemon about
 * 5 MB of resident memory. An operator's {@code -Dlogback.configurationFile}
 * is left in charge.
 */
final class DaemonLogging {

    static final String PATTERN = "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level [%thread] %logger{0} - %msg%n";

    private DaemonLogging() {
    }

    static void configureUnlessGiven() {
        if (System.getProperty("logback.configurationFile") != null
                || !(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
            return;
        }
        context.reset();
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(PATTERN);
        encoder.start();
        ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
        console.setContext(context);
        console.setName("console");
        console.setEncoder(encoder);
        console.start();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.INFO);
        root.addAppender(console);
        // the daemon logs its own start and stop lines, with more in them (version, socket mode, Java)
        context.getLogger(AdderServer.class).setLevel(Level.WARN);
    }
}

package dev.adder.server.daemon;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.CoreConstants;
import ch.qos.logback.core.LayoutBase;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import dev.adder.server.AdderServer;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.TimeZone;
import org.slf4j.LoggerFactory;

/**
 * The daemon's logging: one line per event on standard output, at INFO,
 * {@code 2026-12-02T08:21:03.123Z INFO  [adder-loop] Loop - message}, with
 * the stack trace of an exception after it. Set up in code, by a layout of
 * its own: logback's XML configuration loads some 600 classes and costs the
 * idle daemon about 5 MB of resident memory, and its pattern layout parses
 * the pattern and builds a table of some 60 converters at each start. An
 * operator's {@code -Dlogback.configurationFile} is left in charge.
 *
 * <p>The daemon's {@code main} names {@link DaemonLogProvider} as SLF4J's
 * provider before anything logs ({@link #nameProviderUnlessGiven}), so that
 * the context is made here and logback never looks for a configuration, a
 * search that took about a quarter of the daemon's start. When logging was
 * set up otherwise first (a test that runs the daemon in its JVM),
 * {@link #configureUnlessGiven} sets up logback's context the same way.
 */
final class DaemonLogging {

    private DaemonLogging() {
    }

    /**
     * From {@code main}, before anything logs: SLF4J's provider is {@link DaemonLogProvider}, unless
     * the operator named a provider or a logback configuration file.
     */
    static void nameProviderUnlessGiven() {
        if (System.getProperty("slf4j.provider") == null && System.getProperty("logback.configurationFile") == null) {
            System.setProperty("slf4j.provider", DaemonLogProvider.class.getName());
            if (System.getProperty("slf4j.internal.verbosity") == null) {
                System.setProperty("slf4j.internal.verbosity", "WARN"); // else SLF4J says it took the provider named
            }
        }
    }

    /** Sets up the daemon's logging in logback's context, unless a configuration file is in charge or it is done. */
    static void configureUnlessGiven() {
        if (System.getProperty("logback.configurationFile") == null
                && LoggerFactory.getILoggerFactory() instanceof LoggerContext context
                && context.getObject(DaemonLogging.class.getName()) == null) {
            context.reset();
            configure(context);
        }
    }

    /** The daemon's appender and levels in {@code context}. */
    static void configure(LoggerContext context) {
        Line line = new Line();
        line.setContext(context);
        line.start();
        LayoutWrappingEncoder<ILoggingEvent> encoder = new LayoutWrappingEncoder<>();
        encoder.setContext(context);
        encoder.setLayout(line);
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
        context.putObject(DaemonLogging.class.getName(), line);
    }

    /**
     * One event as a line: time to the millisecond with the zone's offset ({@code Z} for UTC), the
     * level padded to 5, the thread in brackets, the logger's simple name, the message; then the
     * stack trace, if any. The date and time of the last second are kept: events come in bursts.
     */
    static final class Line extends LayoutBase<ILoggingEvent> {
        private final TimeZone zone;
        private long second = Long.MIN_VALUE;
        private String secondText = "";
        private String offsetText = "";

        Line() {
            this(TimeZone.getDefault());
        }

        /** @param zone whose offset the times carry (tests give one) */
        Line(TimeZone zone) {
            this.zone = zone;
        }

        @Override
        public String doLayout(ILoggingEvent event) {
            StringBuilder out = new StringBuilder(128);
            appendTime(out, event.getTimeStamp());
            String level = event.getLevel().toString();
            out.append(' ').append(level);
            for (int i = level.length(); i < 5; i++) {
                out.append(' ');
            }
            String logger = event.getLoggerName();
            out.append(" [").append(event.getThreadName()).append("] ")
                    .append(logger, logger.lastIndexOf('.') + 1, logger.length())
                    .append(" - ").append(event.getFormattedMessage()).append(CoreConstants.LINE_SEPARATOR);
            IThrowableProxy thrown = event.getThrowableProxy();
            if (thrown != null) {
                out.append(ThrowableProxyUtil.asString(thrown)).append(CoreConstants.LINE_SEPARATOR);
            }
            return out.toString();
        }

        /** Appends {@code yyyy-MM-dd'T'HH:mm:ss.SSS} and the offset as {@code Z} or {@code +hh:mm}. */
        synchronized void appendTime(StringBuilder out, long millis) {
            long now = Math.floorDiv(millis, 1000);
            if (now != second) {
                int offsetSeconds = zone.getOffset(millis) / 1000;
                LocalDateTime local = LocalDateTime.ofEpochSecond(now, 0, ZoneOffset.ofTotalSeconds(offsetSeconds));
                StringBuilder text = new StringBuilder(32);
                pad(text, local.getYear(), 4).append('-');
                pad(text, local.getMonthValue(), 2).append('-');
                pad(text, local.getDayOfMonth(), 2).append('T');
                pad(text, local.getHour(), 2).append(':');
                pad(text, local.getMinute(), 2).append(':');
                pad(text, local.getSecond(), 2).append('.');
                secondText = text.toString();
                second = now;
                int offset = Math.abs(offsetSeconds);
                offsetText = offsetSeconds == 0 ? "Z" : pad(pad(new StringBuilder(offsetSeconds < 0 ? "-" : "+"),
                        offset / 3600, 2).append(':'), offset / 60 % 60, 2).toString();
            }
            out.append(secondText);
            pad(out, (int) (millis - second * 1000), 3).append(offsetText);
        }

        private static StringBuilder pad(StringBuilder out, int value, int width) {
            String digits = Integer.toString(value);
            for (int i = digits.length(); i < width; i++) {
                out.append('0');
            }
            return out.append(digits);
        }
    }
}

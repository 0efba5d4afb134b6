package dev.adder.server.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import java.time.Instant;
import java.util.TimeZone;
import org.junit.jupiter.api.Test;

/** The daemon's log line, which its own layout writes (logback's pattern layout is not used). */
class DaemonLoggingTest {

    private final LoggerContext context = new LoggerContext();
    private final Logger logger = context.getLogger("dev.adder.server.Loop");

    private String line(TimeZone zone, String instant, Level level, String message, Throwable thrown, Object... args) {
        DaemonLogging.Line layout = new DaemonLogging.Line(zone);
        layout.setContext(context);
        layout.start();
        LoggingEvent event = new LoggingEvent("test", logger, level, message, thrown, args);
        event.setThreadName("adder-loop");
        event.setTimeStamp(Instant.parse(instant).toEpochMilli());
        return layout.doLayout(event);
    }

    @Test
    void utcTimesEndInZAndLevelsArePaddedToFive() {
        assertEquals("2026-12-02T08:21:03.007Z INFO  [adder-loop] Loop - served 3 clients" + System.lineSeparator(),
                line(TimeZone.getTimeZone("UTC"), "2026-12-02T08:21:03.007Z", Level.INFO, "served {} clients", null, 3));
        assertEquals("0999-01-09T00:00:00.000Z ERROR [adder-loop] Loop - x" + System.lineSeparator(),
                line(TimeZone.getTimeZone("UTC"), "0999-01-09T00:00:00Z", Level.ERROR, "x", null));
    }

    @Test
    void otherZonesGiveTheirOffsetAndLocalTime() {
        assertEquals("2026-12-02T13:51:03.120+05:30 WARN  [adder-loop] Loop - w" + System.lineSeparator(),
                line(TimeZone.getTimeZone("Asia/Kolkata"), "2026-12-02T08:21:03.120Z", Level.WARN, "w", null));
        // a date line crossed backwards, and summer time (New York: -04:00 in July)
        assertEquals("2026-07-01T20:00:00.999-04:00 INFO  [adder-loop] Loop - s" + System.lineSeparator(),
                line(TimeZone.getTimeZone("America/New_York"), "2026-07-02T00:00:00.999Z", Level.INFO, "s", null));
    }

    @Test
    void timesWithinTheSameSecondAndBeforeTheEpochAreRight() {
        DaemonLogging.Line layout = new DaemonLogging.Line(TimeZone.getTimeZone("UTC"));
        for (String instant : new String[] {"1969-12-31T23:59:59.001Z", "1969-12-31T23:59:59.998Z", "1970-01-01T00:00:00Z"}) {
            StringBuilder out = new StringBuilder();
            layout.appendTime(out, Instant.parse(instant).toEpochMilli());
            assertEquals(instant.length() == 20 ? "1970-01-01T00:00:00.000Z" : instant, out.toString());
        }
    }

    @Test
    void anExceptionsStackTraceFollowsTheLine() {
        String text = line(TimeZone.getTimeZone("UTC"), "2026-12-02T08:21:03Z", Level.ERROR, "failed", new IllegalStateException("broken"));
        String[] lines = text.split(System.lineSeparator());
        assertEquals("2026-12-02T08:21:03.000Z ERROR [adder-loop] Loop - failed", lines[0]);
        assertEquals("java.lang.IllegalStateException: broken", lines[1]);
        assertTrue(lines[2].startsWith("\tat ") && lines[2].contains("DaemonLoggingTest.anExceptionsStackTraceFollowsTheLine"),
                lines[2]);
        assertTrue(text.endsWith(System.lineSeparator()));
    }
}

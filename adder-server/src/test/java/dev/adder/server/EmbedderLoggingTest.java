package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.adder.testing.Transport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** What an application embedding the server sees in its log at INFO: one line at start, one at stop. */
class EmbedderLoggingTest {

    @TempDir
    Path dir;

    @Test
    void anEmbeddedServerLogsOneLineAtStartAndOneAtStopAtInfo() throws IOException {
        Logger logger = (Logger) LoggerFactory.getLogger(AdderServer.class);
        Level before = logger.getLevel();
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        logger.setLevel(Level.INFO);
        try {
            AdderServer server = AdderServer.builder().listen(Transport.UNIX.listenAddress(dir)).build();
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
            }
            server.close();
            server.close(); // a second close() logs nothing more
            List<String> info = lines.list.stream().filter(e -> e.getLevel() == Level.INFO)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            assertEquals(2, info.size(), info.toString());
            assertTrue(info.get(0).startsWith("adder server started on [unix:" + dir.resolve("adder.sock")
                    + "]; max connections 10000, idle timeout off,"), info.get(0));
            assertTrue(info.get(0).endsWith("drain timeout 5s, busy poll 25us"), info.get(0));
            assertEquals("adder server stopped: 1 request answered for 1 connection (0 refused); 16 bytes in, 8 bytes out",
                    info.get(1));
        } finally {
            logger.detachAppender(lines);
            logger.setLevel(before);
        }
    }
}

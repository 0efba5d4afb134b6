package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * One connection's protocol, without a socket or a real clock: an in-memory
 * channel whose input the test feeds and whose output it lets through, and a
 * clock the test advances.
 */
class ConnectionTest {

    private static final int READ = SelectionKey.OP_READ;
    private static final int WRITE = SelectionKey.OP_WRITE;

    private long now = 1_000_000_000L;
    private final LoopStats stats = new LoopStats();

    private Connections serving(int maxPendingOutput, long budget) {
        return new Connections(maxPendingOutput, budget, stats, () -> now);
    }

    private Connection open(MemoryChannel channel, Connections serving) {
        stats.openConnections.add(1);
        return new Connection(1, channel, AdderAddress.parse("unix:test.sock"), serving);
    }

    /** Requests (first + i, 1) for i in [0, count). */
    private static byte[] requests(int first, int count) {
        ByteBuffer buffer = ByteBuffer.allocate(count * Protocol.REQUEST_BYTES);
        for (int i = 0; i < count; i++) {
            Protocol.encodeRequest(buffer, first + i, 1);
        }
        return buffer.array();
    }

    @Test
    void manyRequestsAndAPartialOneInOneReadAreAnsweredAndThePartOneKept() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        byte[] eleven = requests(0, 11);
        byte[] first = java.util.Arrays.copyOf(eleven, 10 * Protocol.REQUEST_BYTES + 5);
        byte[] rest = java.util.Arrays.copyOfRange(eleven, first.length, eleven.length);
        channel.feed(first);
        connection.onReady(READ);
        assertEquals(10, channel.answers().length);
        channel.feed(rest);
        connection.onReady(READ);
        assertEquals(11, channel.answers().length);
        for (int i = 0; i < 11; i++) {
            assertEquals(i + 1, channel.answers()[i]);
        }
        assertEquals(11, stats.requests.get());
    }

    @Test
    void halfARequestWithNoAnswerToCarryTheAcknowledgementAsksForItAtOnce() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        byte[] three = requests(0, 3);
        // the teaching client: x, then y; nothing to answer after x, so x is acknowledged at once
        channel.feed(java.util.Arrays.copyOf(three, 8));
        connection.onReady(READ);
        assertEquals(1, channel.acknowledgements);
        channel.feed(java.util.Arrays.copyOfRange(three, 8, 16));
        connection.onReady(READ);
        assertEquals(1, channel.acknowledgements, "a whole request: its answer acknowledges it");
        // pipelined: a complete request and half of the next; the answer written carries the acknowledgement
        channel.feed(java.util.Arrays.copyOfRange(three, 16, 40));
        connection.onReady(READ);
        assertEquals(2, channel.answers().length);
        assertEquals(1, channel.acknowledgements, "no system call when an answer went out");
        // the same, but the client reads nothing: the answer is held, so nothing carries the acknowledgement
        channel.allowance = 0;
        byte[] more = requests(3, 2);
        channel.feed(java.util.Arrays.copyOfRange(three, 40, 48));
        channel.feed(java.util.Arrays.copyOf(more, 24));
        connection.onReady(READ);
        connection.onReady(READ);
        assertEquals(2, channel.acknowledgements);
    }

    @Test
    void readingPausesAtTheLimitOfHeldAnswersAndResumesAtHalf() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1024, 1 << 30));
        channel.allowance = 0; // the client reads nothing
        channel.feed(requests(0, 200)); // 1,600 bytes of answers
        connection.onReady(READ);
        assertEquals(1600, connection.pendingBytes());
        assertEquals(WRITE, channel.interest, "paused: waits to write, not to read");
        channel.allowance = 600;
        connection.onReady(WRITE);
        assertEquals(1000, connection.pendingBytes());
        assertEquals(WRITE, channel.interest, "still above half the limit");
        channel.allowance = 500;
        connection.onReady(WRITE);
        assertEquals(500, connection.pendingBytes());
        assertEquals(READ | WRITE, channel.interest, "at or below half: reads again");
        channel.allowance = Long.MAX_VALUE;
        connection.onReady(WRITE);
        assertEquals(READ, channel.interest);
        assertEquals(200, channel.answers().length);
        assertEquals(0, stats.pendingOutput.get());
    }

    @Test
    void afterHalfCloseEveryAnswerIsWrittenThenTheConnectionCloses() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        channel.allowance = 100;
        channel.feed(requests(0, 50));
        connection.onReady(READ);
        channel.endOfInput = true;
        connection.onReady(READ);
        assertFalse(connection.isClosed(), "closed with answers still held");
        assertEquals(WRITE, channel.interest, "no more reading after end of stream");
        channel.allowance = Long.MAX_VALUE;
        connection.onReady(WRITE);
        assertTrue(connection.isClosed());
        assertEquals(50, channel.answers().length);
        assertEquals(0, stats.openConnections.get());
    }

    @Test
    void aPartialWriteThenAWriteThatThrowsLeavesNothingCounted() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        channel.allowance = 1000;
        channel.feed(requests(0, 1000)); // 8,000 bytes of answers, 1,000 taken
        connection.onReady(READ);
        assertEquals(7000, stats.pendingOutput.get());
        channel.writeFailure = new java.io.IOException("Connection reset by peer");
        connection.onReady(WRITE);
        assertTrue(connection.isClosed());
        assertEquals(0, stats.pendingOutput.get(), "answers of a closed connection still counted");
        assertEquals(0, stats.openConnections.get());
    }

    /**
     * Traffic is stamped with the time it happens, not the loop's time for
     * its turn, which is read when the turn begins: after a long turn (a GC
     * pause, or many connections to serve under load) a connection that was
     * busy all through it used to look idle since the turn began, and a
     * checked client on a loaded machine was closed as idle while it called.
     */
    @Test
    void trafficLateInALongTurnIsNotIdleSinceTheTurnBegan() {
        long[] exact = {now};
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, new Connections(1 << 20, 1 << 30, stats, new Clock() {
            @Override
            public long nanoTime() {
                return now;
            }

            @Override
            public long exactNanoTime() {
                return exact[0];
            }
        }));
        long idle = TimeUnit.SECONDS.toNanos(2);
        exact[0] = now + TimeUnit.MILLISECONDS.toNanos(1500); // 1.5 s into a turn that began at now
        channel.feed(requests(0, 1));
        connection.onReady(READ);
        now += TimeUnit.MILLISECONDS.toNanos(2100); // the idle scan, 0.6 s after the traffic
        assertFalse(connection.closeIfIdle(idle), "closed as idle 0.6 s after its last request");
        now += TimeUnit.MILLISECONDS.toNanos(1500);
        assertTrue(connection.closeIfIdle(idle));
    }

    @Test
    void theIdleTimeoutCountsFromTheLastTrafficByTheClock() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        long idle = TimeUnit.SECONDS.toNanos(5);
        now += TimeUnit.SECONDS.toNanos(3);
        channel.feed(requests(0, 1));
        connection.onReady(READ); // traffic at t = 3 s
        now += TimeUnit.SECONDS.toNanos(4);
        assertFalse(connection.closeIfIdle(idle), "closed 4 s after its last request");
        now += TimeUnit.SECONDS.toNanos(1);
        assertTrue(connection.closeIfIdle(idle));
        assertTrue(channel.closed);
    }

    @Test
    void aDrainAnswersWhatWaitsUnreadThenShutsTheOutput() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        channel.feed(requests(0, 30)); // arrived, never read before the stop
        connection.beginDrain();
        assertEquals(30, channel.answers().length);
        assertTrue(channel.outputShut);
        channel.feed(requests(100, 5)); // after the stop began: read and dropped
        connection.onReady(READ);
        assertEquals(30, channel.answers().length);
        assertFalse(connection.closeIfDrained(false), "closed before a quiet moment");
        now += Connection.DRAIN_QUIET_NANOS;
        assertTrue(connection.closeIfDrained(false));
    }

    @Test
    void quietWhileDrainingCountsFromTheFirstCheckAfterTheTraffic() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        channel.feed(requests(0, 30));
        connection.beginDrain(); // the stop's task, at the loop's time for this turn
        channel.feed(requests(100, 5)); // the client goes on sending, and the same turn reads it
        connection.onReady(READ);
        // the turn took 537 ms (the stop reads what waits on every connection): all of it stamped
        // with the time the turn began, so by the stamps the client has been quiet 537 ms already
        now += TimeUnit.MILLISECONDS.toNanos(537);
        assertFalse(connection.closeIfDrained(false), "closed at the first check after its traffic");
        now += Connection.DRAIN_QUIET_NANOS;
        assertTrue(connection.closeIfDrained(false));
        assertEquals(30, channel.answers().length);
    }

    @Test
    void aDrainingConnectionWithRequestsWaitingUnreadIsNotClosedAsQuiet() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        channel.feed(requests(0, 30));
        connection.beginDrain();
        assertFalse(connection.closeIfDrained(false));
        now += Connection.DRAIN_QUIET_NANOS;
        // quiet as far as the loop has looked, but requests came since: closing a socket with bytes
        // unread resets the connection, and the reset discards the answers still in flight
        channel.feed(requests(100, 5));
        assertFalse(connection.closeIfDrained(false), "closed with requests unread");
        assertTrue(channel.input.isEmpty(), "what waited is read, and dropped");
        assertEquals(30, channel.answers().length);
        now += Connection.DRAIN_QUIET_NANOS;
        assertFalse(connection.closeIfDrained(false), "closed at the first check after its traffic");
        now += Connection.DRAIN_QUIET_NANOS;
        assertTrue(connection.closeIfDrained(false));
    }

    @Test
    void theDrainDeadlineClosesAClientThatNeverReads() {
        MemoryChannel channel = new MemoryChannel();
        Connection connection = open(channel, serving(1 << 20, 1 << 30));
        channel.allowance = 0;
        channel.feed(requests(0, 10));
        connection.beginDrain();
        assertFalse(channel.outputShut, "output shut with answers unsent");
        now += TimeUnit.SECONDS.toNanos(60);
        assertFalse(connection.closeIfDrained(false), "a connection holding answers waits for the deadline");
        assertTrue(connection.closeIfDrained(true));
        assertEquals(0, stats.pendingOutput.get());
    }

    @Test
    void pastTheBudgetConnectionsHoldingAnswersStopReadingAndOthersReadLittle() {
        Connections serving = serving(1 << 20, 64 * 1024);
        MemoryChannel slow = new MemoryChannel();
        MemoryChannel other = new MemoryChannel();
        Connection slowConnection = open(slow, serving);
        Connection otherConnection = open(other, serving);
        slow.allowance = 0;
        slow.feed(requests(0, 10_000)); // 80,000 bytes of answers: past the 64 KiB budget
        slowConnection.onReady(READ);
        assertTrue(serving.budget.isOver());
        assertEquals(WRITE, slow.interest, "a connection holding answers is not read past the budget");
        other.allowance = 0;
        other.feed(requests(0, 1000));
        otherConnection.onReady(READ);
        assertEquals(Connection.OVER_BUDGET_READ_BYTES / 2, otherConnection.pendingBytes(), "one small read's answers");
        assertEquals(WRITE, other.interest);
        slow.allowance = 80_000 - 32 * 1024 + 128; // with the other's 128 bytes, the total drains to half the budget
        slowConnection.onReady(WRITE);
        assertFalse(serving.budget.isOver());
        assertEquals(READ | WRITE, slow.interest);
        assertEquals(READ | WRITE, other.interest, "every holder is told when reading resumes");
    }
}

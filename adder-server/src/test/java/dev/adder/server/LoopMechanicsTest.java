package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.Pipe;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The loop's mechanics that a socket cannot easily provoke: the selector rebuild and the timers. */
class LoopMechanicsTest {

    @Test
    void aRebuildMovesEveryRegistrationWithItsInterestAndAttachmentToAFreshSelector() throws IOException {
        Selector old = Selector.open();
        List<Pipe> pipes = new ArrayList<>();
        Map<Object, Integer> registered = new HashMap<>();
        int[] interests = {SelectionKey.OP_READ, 0, SelectionKey.OP_WRITE};
        for (int i = 0; i < 3; i++) {
            Pipe pipe = Pipe.open();
            pipes.add(pipe);
            boolean write = interests[i] == SelectionKey.OP_WRITE;
            var channel = write ? pipe.sink() : pipe.source();
            channel.configureBlocking(false);
            Object attachment = "channel " + i;
            channel.register(old, interests[i], attachment);
            registered.put(attachment, interests[i]);
        }
        SelectionKey cancelled = pipes.get(0).sink().configureBlocking(false).register(old, SelectionKey.OP_WRITE, "gone");
        cancelled.cancel();
        Map<Object, SelectionKey> told = new HashMap<>();
        Selector fresh = EventLoop.moveRegistrations(old, told::put);
        assertFalse(old.isOpen(), "the old selector is closed");
        assertEquals(registered.keySet(), told.keySet(), "every valid registration moved, the cancelled one not");
        assertEquals(3, fresh.keys().size());
        for (SelectionKey key : fresh.keys()) {
            assertSame(key, told.get(key.attachment()));
            assertEquals(registered.get(key.attachment()), key.interestOps());
        }
        // and the fresh selector works: the sink is writable at once
        assertTrue(fresh.selectNow() >= 1);
        fresh.close();
        for (Pipe pipe : pipes) {
            pipe.source().close();
            pipe.sink().close();
        }
    }

    @Test
    void timersRunWhenDueEarliestFirstAndMayScheduleThemselvesAgain() {
        Timers timers = new Timers();
        List<String> ran = new ArrayList<>();
        Timers.Timer[] recurring = new Timers.Timer[1];
        recurring[0] = timers.create(() -> {
            ran.add("recurring");
            timers.schedule(recurring[0], 300);
        });
        Timers.Timer once = timers.create(() -> ran.add("once"));
        Timers.Timer cancelled = timers.create(() -> ran.add("cancelled"));
        assertFalse(timers.any());
        timers.schedule(recurring[0], 100);
        timers.schedule(once, 50);
        timers.schedule(cancelled, 10);
        timers.cancel(cancelled);
        assertEquals(50, timers.nextDeadline());
        timers.runDue(49);
        assertEquals(List.of(), ran);
        timers.runDue(100);
        assertEquals(List.of("recurring", "once"), ran);
        assertTrue(recurring[0].isScheduled());
        assertEquals(300, timers.nextDeadline());
        assertFalse(once.isScheduled());
    }

    @Test
    void deadlinesCompareAcrossTheWrapOfNanoTime() {
        Timers timers = new Timers();
        Timers.Timer later = timers.create(() -> { });
        Timers.Timer sooner = timers.create(() -> { });
        timers.schedule(later, Long.MIN_VALUE + 10); // past the wrap: later
        timers.schedule(sooner, Long.MAX_VALUE - 10);
        assertEquals(Long.MAX_VALUE - 10, timers.nextDeadline());
    }
}

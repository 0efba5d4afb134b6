package dev.adder.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.Protocol;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The line alone, without a socket or a thread: requests go out in line
 * order, a batch's chunks interleave with other calls, each answer lands in
 * its own slot at every split of the bytes, a given-up call keeps its slot,
 * and a loss puts back exactly what was unanswered.
 */
class LineTest {

    private static final long FAR = Long.MAX_VALUE / 2;
    private final List<Waiter> done = new ArrayList<>();
    private final List<Waiter> failed = new ArrayList<>();
    private final Consumer<Waiter> toDone = waiter -> end(waiter, Waiter.DONE);
    private final Consumer<Waiter> toFailed = waiter -> end(waiter, Waiter.FAILED);

    /** A stand-in for Calls' move out of pending, as the line's callers make it. */
    private void end(Waiter waiter, int state) {
        waiter.state = state;
        (state == Waiter.DONE ? done : failed).add(waiter);
    }

    private static Call call(long x, long y) {
        return new Call(x, y, FAR, null, null);
    }

    /** Answers every request in {@code requests} (read mode) as the server would. */
    private static ByteBuffer answers(ByteBuffer requests) {
        ByteBuffer out = ByteBuffer.allocate(requests.remaining() / 2).order(Protocol.BYTE_ORDER);
        while (requests.remaining() >= Protocol.REQUEST_BYTES) {
            out.putLong(requests.getLong() + requests.getLong());
        }
        return out.flip();
    }

    private static ByteBuffer fill(Line line, int bytes) {
        ByteBuffer out = ByteBuffer.allocate(bytes).order(Protocol.BYTE_ORDER);
        line.fill(out);
        return out.flip();
    }

    /** Delivers {@code answers} in pieces of random sizes, as reads might bring them. */
    private int deliverSplit(Line line, ByteBuffer answers, SplittableRandom random) {
        ByteBuffer in = ByteBuffer.allocate(answers.remaining()).order(Protocol.BYTE_ORDER);
        int matched = 0;
        while (answers.hasRemaining()) {
            int piece = Math.min(answers.remaining(), 1 + random.nextInt(20));
            in.put(answers.slice().limit(piece));
            answers.position(answers.position() + piece);
            in.flip();
            matched += line.deliver(in, toDone);
            in.compact();
        }
        return matched;
    }

    @Test
    void aBatchsChunksInterleaveWithCallsAndEveryAnswerLandsInItsSlotAtEverySplit() {
        SplittableRandom random = new SplittableRandom(7);
        for (int round = 0; round < 200; round++) {
            done.clear();
            Line line = new Line(1 << 20, 16, FAR);
            int pairs = 1 + random.nextInt(60);
            long[] xs = random.longs(pairs).toArray();
            long[] ys = random.longs(pairs).toArray();
            Batch batch = new Batch(xs, ys, FAR, null);
            List<Call> calls = new ArrayList<>();
            line.add(batch);
            for (int i = 0; i < 10; i++) {
                Call call = call(random.nextLong(), random.nextLong());
                calls.add(call);
                line.add(call);
            }
            assertEquals(10, line.inFlight);
            for (int turn = 0; done.size() < 11; turn++) {
                assertTrue(turn < 1_000, "the line never finished");
                ByteBuffer requests = fill(line, Protocol.REQUEST_BYTES * (1 + random.nextInt(12)));
                int sentNow = requests.remaining() / Protocol.REQUEST_BYTES;
                assertEquals(sentNow, line.due, "due counts what was sent");
                assertEquals(sentNow, deliverSplit(line, answers(requests), random));
                assertEquals(0, line.due);
            }
            assertTrue(done.contains(batch));
            for (int i = 0; i < pairs; i++) {
                assertEquals(xs[i] + ys[i], batch.sums[i], "pair " + i);
            }
            for (Call call : calls) {
                assertEquals(call.x + call.y, call.value);
            }
            assertEquals(0, line.inFlight);
            assertFalse(line.unsentHint);
        }
    }

    @Test
    void aCallGivenUpKeepsItsSlotSoItsLateAnswerIsDroppedThereNotHandedOn() {
        Line line = new Line(1 << 20, 16, FAR);
        Call first = call(1, 2);
        Call second = call(3, 4);
        line.add(first);
        line.add(second);
        ByteBuffer answers = answers(fill(line, 1024));
        first.state = Waiter.FAILED; // timed out after it was sent
        assertEquals(2, line.deliver(answers, toDone));
        assertEquals(List.of(second), done);
        assertEquals(7, second.value);
        assertEquals(0, first.value, "the late answer went nowhere");
        assertEquals(0, line.inFlight);
    }

    @Test
    void aCallGivenUpBeforeItWasSentIsSkipped() {
        Line line = new Line(1 << 20, 16, FAR);
        Call skipped = call(1, 2);
        Call kept = call(3, 4);
        line.add(skipped);
        line.add(kept);
        skipped.state = Waiter.FAILED;
        ByteBuffer requests = fill(line, 1024);
        assertEquals(Protocol.REQUEST_BYTES, requests.remaining());
        assertEquals(3, requests.getLong(0));
        assertEquals(1, line.due);
    }

    @Test
    void answersNoRequestAskedForAreAViolation() {
        Line line = new Line(1 << 20, 16, FAR);
        ByteBuffer stray = ByteBuffer.allocate(8).order(Protocol.BYTE_ORDER).putLong(5).flip();
        assertThrows(Line.Violation.class, () -> line.deliver(stray, toDone));
        line.add(call(1, 1));
        fill(line, 1024);
        ByteBuffer twoAndAHalf = ByteBuffer.allocate(20).order(Protocol.BYTE_ORDER).putLong(2).putLong(9).putInt(0).flip();
        assertThrows(Line.Violation.class, () -> line.deliver(twoAndAHalf, toDone));
        assertEquals(0, line.due, "what was matched before the violation is no longer due");
    }

    @Test
    void everyStrayAnswerSaysHowManyBytesAnswerNoRequest() {
        Line line = new Line(1 << 20, 16, FAR);
        ByteBuffer whole = ByteBuffer.allocate(8).order(Protocol.BYTE_ORDER).putLong(5).flip();
        assertEquals("sent 8 bytes that answer no request",
                assertThrows(Line.Violation.class, () -> line.deliver(whole, toDone)).getMessage());
        line.add(call(1, 1));
        fill(line, 1024);
        ByteBuffer answerAndMore = ByteBuffer.allocate(27).order(Protocol.BYTE_ORDER).putLong(2).putLong(9).putLong(4)
                .put(new byte[3]).flip();
        assertEquals("sent 19 bytes that answer no request",
                assertThrows(Line.Violation.class, () -> line.deliver(answerAndMore, toDone)).getMessage());
        assertEquals(1, done.size(), "the answer owed was delivered first");
    }

    @Test
    void aLossWithReplayPutsBackExactlyWhatWasUnansweredInItsOrderABatchOnce() {
        Line line = new Line(1 << 20, 4, FAR);
        Batch batch = new Batch(new long[] {1, 2, 3, 4, 5, 6}, new long[] {10, 20, 30, 40, 50, 60}, FAR, null);
        Call before = call(100, 1);
        Call after = call(200, 2);
        line.add(before);
        line.add(batch);
        line.add(after);
        ByteBuffer requests = fill(line, 1024); // before, 4 pairs (the window), after
        assertEquals(6, requests.remaining() / Protocol.REQUEST_BYTES);
        ByteBuffer answers = answers(requests);
        answers.limit(3 * Protocol.RESPONSE_BYTES); // before and 2 pairs answered, then the connection is lost
        line.deliver(answers, toDone);
        assertEquals(List.of(before), done);
        assertEquals(2, batch.received);
        assertEquals(2, line.lost(true, toFailed), "the batch once, and after");
        assertTrue(failed.isEmpty());
        assertEquals(0, line.due);
        ByteBuffer again = fill(line, 1024);
        long[] firsts = new long[again.remaining() / Protocol.REQUEST_BYTES];
        for (int i = 0; i < firsts.length; i++) {
            firsts[i] = again.getLong(i * Protocol.REQUEST_BYTES);
        }
        assertArrayEquals(new long[] {3, 4, 5, 6, 200}, firsts, "from pair 3 on, then the call, in order");
        line.deliver(answers(again.rewind()), toDone);
        assertArrayEquals(new long[] {11, 22, 33, 44, 55, 66}, batch.sums);
        assertEquals(202, after.value);
        assertEquals(0, line.inFlight);
    }

    @Test
    void aBatchInSeveralRunsOnTheLostConnectionIsPutBackOnceFromItsFirstUnansweredPair() {
        Line line = new Line(1 << 20, 4, FAR);
        Batch batch = new Batch(new long[] {1, 2, 3, 4, 5, 6}, new long[] {10, 20, 30, 40, 50, 60}, FAR, null);
        Call between = call(100, 1);
        line.add(batch);
        line.add(between);
        fill(line, 2 * Protocol.REQUEST_BYTES); // pairs 1-2; the batch goes to the back, behind the call
        fill(line, 1024); // the call, then pairs 3-4 (its window of 4 is full)
        assertEquals(5, line.due);
        assertEquals(2, line.lost(true, toFailed), "the batch once, and the call");
        ByteBuffer again = fill(line, 1024);
        assertEquals(5, again.remaining() / Protocol.REQUEST_BYTES, "pairs 1-4 and the call, each once");
        assertEquals(1, again.getLong(0));
        line.deliver(answers(again), toDone);
        line.deliver(answers(fill(line, 1024)), toDone);
        assertArrayEquals(new long[] {11, 22, 33, 44, 55, 66}, batch.sums);
        assertEquals(101, between.value);
        assertEquals(0, line.due);
    }

    @Test
    void aLossWithoutReplayFailsWhatWasOnTheConnectionAndKeepsWhatWasNot() {
        Line line = new Line(1 << 20, 16, FAR);
        Call sent = call(1, 2);
        line.add(sent);
        fill(line, 1024);
        Call queued = call(3, 4);
        line.add(queued);
        assertEquals(0, line.lost(false, toFailed));
        assertEquals(List.of(sent), failed);
        assertEquals(1, line.inFlight, "the queued call still takes room");
        assertTrue(line.anyUnsentPending());
        assertSame(null, line.oldestThatMayDrive(), "no caller of these may drive: they have no thread");
    }

    /**
     * Calls time out in line while new ones come, a call given up for each one added, and nothing
     * is written (a server that reads nothing): the line holds no more than the calls it may hold
     * and 64 given-up ones. Taking them out only when they were half the line let it grow to
     * twice that.
     */
    @Test
    void callsGivenUpWhileNewOnesComeNeverGrowTheLinePastItsLimit() {
        int limit = 1_000;
        Line line = new Line(limit, 16, FAR);
        ArrayDeque<Call> live = new ArrayDeque<>();
        for (int i = 0; i < limit; i++) {
            Call call = call(i, 0);
            line.add(call);
            live.add(call);
        }
        for (int i = 0; i < 5 * limit; i++) {
            Call oldest = live.poll();
            end(oldest, Waiter.FAILED); // given up, as Calls does, before it was sent
            line.abandon();
            Call call = call(i, 1);
            line.add(call);
            live.add(call);
            assertTrue(line.entries() <= limit + 65, "the line holds " + line.entries() + " entries");
        }
        assertEquals(limit, line.inFlight);
        ByteBuffer out = fill(line, limit * Protocol.REQUEST_BYTES);
        assertEquals(limit, out.remaining() / Protocol.REQUEST_BYTES, "only the live calls go out");
    }
}

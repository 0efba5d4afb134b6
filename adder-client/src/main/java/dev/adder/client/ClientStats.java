package dev.adder.client;

/**
 * A snapshot of a client's figures, read together under the client's lock.
 *
 * @param callsInFlight single calls that hold room now ({@code maxInFlight} at most): queued or sent and
 *                      not yet answered, including calls given up whose late answer is still due (it frees
 *                      their room); batches' pairs are not counted
 * @param replayedCalls calls sent again on a new connection since the client was made (see
 *                      {@link AdderClient#replayedCalls()})
 */
public record ClientStats(long callsInFlight, long replayedCalls) {
}

package dev.adder.server;

import java.nio.channels.SelectionKey;

/**
 * What every selection key of a loop carries as its attachment: a
 * {@link Connection} or a {@link Listener}, told of readiness with one call.
 * The loop knows no more of what it serves than this.
 *
 * <p>An abstract class rather than an interface, and two kinds only: the
 * loop's one call site stays bimorphic, as cheap as the type test it replaced.
 */
abstract class KeyHandler {

    /** Handles the readiness the selector reported ({@link SelectionKey} operation bits). Loop thread only. */
    abstract void onReady(int readyOps);

    /** Its channel is registered with the loop's selector under {@code key}: at registration, and again after a rebuild. */
    abstract void registeredAs(SelectionKey key);
}

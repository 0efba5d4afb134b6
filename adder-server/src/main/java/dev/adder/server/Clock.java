package dev.adder.server;

/** Nanoseconds from an arbitrary origin, as {@link System#nanoTime()}; tests advance one by hand. */
@FunctionalInterface
interface Clock {
    long nanoTime();
}

package dev.adder.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class HumanDurationTest {

    @ParameterizedTest
    @CsvSource({"250ms, 250", "30s, 30000", "5m, 300000", "1h, 3600000", "0, 0", "0s, 0", "1500ms, 1500"})
    void acceptedForms(String text, long millis) {
        assertEquals(Duration.ofMillis(millis), HumanDuration.parse(text));
    }

    @ParameterizedTest
    @CsvSource({"50us, 50000", "1500us, 1500000", "0us, 0"})
    void microsecondsForShortWindows(String text, long nanos) {
        assertEquals(Duration.ofNanos(nanos), HumanDuration.parse(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "s", "30", "-5s", "5 s", "5sec", "1.5s", "30S", "9999999999999s"})
    void rejectedFormsNameTheInput(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HumanDuration.parse(text));
        assertEquals("invalid duration '" + text + "': expected a whole number and a unit, as in 50us, 250ms, 30s, 5m or 1h",
                e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"250000, 250ms", "30000000, 30s", "300000000, 5m", "7200000000, 2h", "0, 0", "1500000, 1500ms",
        "50, 50us", "1500, 1500us"})
    void formatGivesTheShortestFormThatParsesBack(long micros, String text) {
        assertEquals(text, HumanDuration.format(Duration.ofNanos(micros * 1000)));
        assertEquals(Duration.ofNanos(micros * 1000), HumanDuration.parse(text));
    }

    @Test
    void describeFallsBackToIsoOnlyWhereFormatHasNoForm() {
        assertEquals("1h", HumanDuration.describe(Duration.ofHours(1)));
        assertEquals("0", HumanDuration.describe(Duration.ZERO));
        assertEquals("PT-1S", HumanDuration.describe(Duration.ofSeconds(-1)));
        assertEquals("PT3000000H", HumanDuration.describe(Duration.ofHours(3_000_000)));
        assertEquals("PT2562047788015215H30M7S", HumanDuration.describe(Duration.ofSeconds(Long.MAX_VALUE)));
    }
}

package dev.adder.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
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
    @ValueSource(strings = {"", "s", "30", "-5s", "5 s", "5sec", "1.5s", "30S", "9999999999999s"})
    void rejectedFormsNameTheInput(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HumanDuration.parse(text));
        assertEquals("invalid duration '" + text + "': expected a whole number and a unit, as in 250ms, 30s, 5m or 1h",
                e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"250, 250ms", "30000, 30s", "300000, 5m", "7200000, 2h", "0, 0", "1500, 1500ms"})
    void formatGivesTheShortestFormThatParsesBack(long millis, String text) {
        assertEquals(text, HumanDuration.format(Duration.ofMillis(millis)));
        assertEquals(Duration.ofMillis(millis), HumanDuration.parse(text));
    }
}

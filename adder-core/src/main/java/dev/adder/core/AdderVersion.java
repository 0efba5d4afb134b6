package dev.adder.core;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The version of Adder, as the build wrote it into the core jar; every module
 * of a build shares it. Public, as part of the API: the server's and the
 * client's command lines print it for {@code --version} (from their modules,
 * hence the export), and an application may log which Adder it runs with.
 */
public final class AdderVersion {

    private static final String UNKNOWN = "(unknown version)";

    private AdderVersion() {
    }

    /**
     * The version, such as {@code 0.1.0}.
     *
     * @return the version, or {@code (unknown version)} if the build did not record it
     */
    public static String current() {
        try (InputStream in = AdderVersion.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return UNKNOWN;
            }
            Properties properties = new Properties();
            properties.load(in);
            return properties.getProperty("version", UNKNOWN);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

package dev.adder.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every Java block of the README, taken from the README itself, compiles as
 * shown: its import lines, then the body of a method. So a snippet cannot
 * lose an import or drift from the API without this test failing.
 */
class ReadmeSnippetsTest {

    private static final Pattern JAVA_BLOCK = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL);

    @TempDir
    Path dir;

    private static Path readme() {
        for (Path candidate : List.of(Path.of("..", "README.md"), Path.of("README.md"))) {
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new AssertionError("README.md not found from " + Path.of("").toAbsolutePath());
    }

    @Test
    void everyJavaBlockOfTheReadmeCompilesAsShown() throws IOException, InterruptedException {
        Matcher blocks = JAVA_BLOCK.matcher(Files.readString(readme()));
        List<Path> sources = new ArrayList<>();
        while (blocks.find()) {
            StringBuilder imports = new StringBuilder();
            StringBuilder body = new StringBuilder();
            for (String line : blocks.group(1).split("\n")) {
                (line.startsWith("import ") ? imports : body).append(line).append('\n');
            }
            String name = "ReadmeSnippet" + sources.size();
            Path source = dir.resolve(name + ".java");
            Files.writeString(source, imports + "\nclass " + name + " {\n    void run() throws Exception {\n"
                    + body + "    }\n}\n");
            sources.add(source);
        }
        assertTrue(sources.size() >= 2, "Java blocks found in the README: " + sources.size());
        String classPath = String.join(File.pathSeparator, System.getProperty("java.class.path", ""),
                System.getProperty("jdk.module.path", ""));
        // javac as the JDK's own tool, in a process: this test's module does not read java.compiler
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "javac").toString(),
                "-proc:none", "-Xlint:none", "-d", dir.resolve("classes").toString(), "--class-path", classPath));
        sources.forEach(source -> command.add(source.toString()));
        Process javac = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(javac.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, javac.waitFor(), "the README's Java blocks do not compile as shown:\n" + output);
    }
}

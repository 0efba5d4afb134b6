package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.tls.TlsFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * A {@code tls:} client's TLS: the context (the JDK's default, one made
 * from PEM files, or the application's), and an engine per connection that
 * verifies the server's certificate against the address's host name.
 */
final class ClientTls {

    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private final SSLContext context;
    /** The files it was made from, each null if not (a builder's later setting keeps the others). */
    final Path ca;
    final Path chain;
    final Path key;

    private ClientTls(SSLContext context, Path ca, Path chain, Path key) {
        this.context = context;
        this.ca = ca;
        this.chain = chain;
        this.key = key;
    }

    static ClientTls of(SSLContext context) {
        return new ClientTls(context, null, null, null);
    }

    /** Trusts the CAs of {@code ca} (null: the JDK's), presents {@code chain} and {@code key} if given. */
    static ClientTls fromFiles(Path ca, Path chain, Path key) throws IOException {
        return new ClientTls(chain != null ? TlsFiles.context(chain, key, ca) : TlsFiles.trustContext(ca), ca, chain, key);
    }

    static ClientTls defaults() {
        try {
            return of(SSLContext.getDefault());
        } catch (NoSuchAlgorithmException e) {
            throw new AdderException("no TLS in this JVM: " + e.getMessage(), e);
        }
    }

    /** A client engine for one connection to {@code address}, its host name to be verified. */
    SSLEngine newEngine(AdderAddress address) {
        SSLEngine engine = context.createSSLEngine(address.host(), address.port());
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        List<String> supported = List.of(engine.getSupportedProtocols());
        parameters.setProtocols(Arrays.stream(PROTOCOLS).filter(supported::contains).toArray(String[]::new));
        engine.setSSLParameters(parameters);
        return engine;
    }
}

package dev.adder.server;

import dev.adder.core.tls.TlsFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import javax.net.ssl.SSLContext;

/**
 * How a server's TLS listeners get their keys: a context given as it is, or
 * files (a PEM chain and key, or a PKCS#12 keystore, and the CAs whose
 * clients are admitted) read at start and again at each reload. Fixed once
 * built, like {@link ServerConfig}.
 */
record TlsSettings(
        SSLContext context,
        Path certificateChain,
        Path privateKey,
        Path keyStore,
        char[] keyStorePassword,
        Path clientCa,
        boolean requireClientCertificates,
        int maxHandshakes,
        Duration handshakeTimeout) {

    /** Whether a reload reads files again (or, with a context given, has nothing to read). */
    boolean fromFiles() {
        return context == null;
    }

    /** The context: the one given, or one made from the files as they are now. */
    SSLContext load() throws IOException {
        if (context != null) {
            return context;
        }
        if (keyStore != null) {
            return TlsFiles.keyStoreContext(keyStore, keyStorePassword, clientCa);
        }
        return TlsFiles.context(certificateChain, privateKey, clientCa);
    }
}

package dev.adder.bench;

import java.util.Arrays;

/**
 * {@code java -jar adder-bench-all.jar COMMAND [ARGS]}: the benchmark tools.
 * <ul>
 *   <li>{@code load}: the load generator ({@link Load});
 *   <li>{@code churn}: connections made, used for one request, and closed, over and over ({@link Churn});
 *   <li>{@code client}: Adder's client under concurrent callers ({@link ClientBench});
 *   <li>{@code netty}: the Netty peer server ({@link NettyPeer});
 *   <li>{@code grpc}: the gRPC peer server ({@link GrpcPeer}), whose client is {@code client --peer grpc};
 *   <li>{@code soak}: a long mixed run with abusive clients ({@link Soak});
 *   <li>{@code hold}: N idle connections held open, for memory figures ({@link Hold});
 *   <li>{@code alloc}: bytes allocated per request on Adder's loop thread under load ({@link LoopAllocation});
 *   <li>{@code tls-memory}: heap per idle connection, plain and TLS, Adder and Netty, and one bare engine's ({@link TlsMemory});
 *   <li>{@code handshakes-beside}: checked TLS clients' latency and the loop's longest turn, with and without new
 *       TLS connections beside them ({@link HandshakesBeside});
 *   <li>{@code jmh}: the JMH microbenchmarks, with JMH's own options (e.g. {@code -prof gc}).
 * </ul>
 */
public final class Bench {

    private Bench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: java -jar adder-bench-all.jar load|churn|client|netty|grpc|soak|hold|alloc|tls-memory|handshakes-beside|jmh [ARGS]");
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        int status = switch (args[0]) {
            case "load" -> Load.main(rest);
            case "churn" -> Churn.main(rest);
            case "client" -> ClientBench.main(rest);
            case "netty" -> NettyPeer.main(rest);
            case "grpc" -> GrpcPeer.main(rest);
            case "alloc" -> LoopAllocation.main(rest);
            case "tls-memory" -> TlsMemory.main(rest);
            case "handshakes-beside" -> HandshakesBeside.main(rest);
            case "hold" -> Hold.main(rest);
            case "soak" -> Soak.main(rest);
            case "jmh" -> {
                org.openjdk.jmh.Main.main(rest);
                yield 0;
            }
            default -> {
                System.err.println("unknown command " + args[0] + ": expected load, churn, client, netty, grpc, soak, hold, alloc, tls-memory, handshakes-beside or jmh");
                yield 2;
            }
        };
        System.exit(status);
    }
}

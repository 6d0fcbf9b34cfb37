package dev.starattn.cluster;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;

/** Bearer-token authentication: the client adds {@code authorization: Bearer T}, the host checks it. */
public final class BearerAuth {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private BearerAuth() {}

    /** Reads a token file (first line, trimmed); a missing or empty file is an error a person can act on. */
    public static String readTokenFile(Path file) {
        try {
            if (!Files.isRegularFile(file)) throw new IllegalArgumentException("token file " + file + " does not exist");
            String t = Files.readString(file, StandardCharsets.UTF_8).strip();
            int nl = t.indexOf('\n');
            if (nl >= 0) t = t.substring(0, nl).strip();
            if (t.isEmpty()) throw new IllegalArgumentException("token file " + file + " is empty");
            for (char c : t.toCharArray()) {
                if (c < 0x21 || c > 0x7e) throw new IllegalArgumentException("token file " + file + " holds characters other than printable ASCII");
            }
            return t;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read token file " + file + ": " + e.getMessage(), e);
        }
    }

    /** The host side: refuses calls without the right token (UNAUTHENTICATED). */
    public static ServerInterceptor server(String token) {
        byte[] expected = ("Bearer " + token).getBytes(StandardCharsets.US_ASCII);
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                String got = headers.get(AUTHORIZATION);
                if (got == null) {
                    call.close(Status.UNAUTHENTICATED.withDescription("this host requires a bearer token; pass --auth-token-file"), new Metadata());
                    return new ServerCall.Listener<>() {};
                }
                if (!MessageDigest.isEqual(expected, got.getBytes(StandardCharsets.US_ASCII))) {
                    call.close(Status.UNAUTHENTICATED.withDescription("wrong bearer token"), new Metadata());
                    return new ServerCall.Listener<>() {};
                }
                return next.startCall(call, headers);
            }
        };
    }

    /** The client side: adds the token to every call. */
    public static ClientInterceptor client(String token) {
        String value = "Bearer " + token;
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        headers.put(AUTHORIZATION, value);
                        super.start(listener, headers);
                    }
                };
            }
        };
    }
}

package example;

import com.google.gson.Gson;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** Answers every request with a greeting and a few details written by Gson. */
public final class App {
    private App() {}

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        String greeting = System.getenv().getOrDefault("GREETING", "Hello");
        Gson gson = new Gson();
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 64);
        server.createContext("/", exchange -> {
            // Gson (from Maven Central) writes the details: the answer
            // proves the dependency is in the jar.
            Map<String, String> details = new LinkedHashMap<>();
            details.put("built_with", "gradle");
            details.put("java", System.getProperty("java.version"));
            byte[] out = (greeting + " from java-gradle " + gson.toJson(details) + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
            exchange.sendResponseHeaders(200, out.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(out);
            }
        });
        server.start();
        System.out.println("java-gradle listening on " + port);
    }
}

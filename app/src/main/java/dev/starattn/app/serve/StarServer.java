package dev.starattn.app.serve;

import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * {@code starattn serve}: an OpenAI-compatible HTTP API over one model, with documents encoded
 * once (phase 1 over the hosts) and asked many questions (phase 2 only), and a web page. This class
 * wires the parts ({@link Routes}, {@link DocumentStore}, {@link CompletionHandler}, ...) to Jetty.
 *
 * <p>Why Jetty 12 (its core API, without servlets): of the servers that resolve here (Javalin,
 * Helidon SE, Vert.x, Jetty) it is the smallest dependency for what we need, four jars with only
 * slf4j-api below them (Javalin 7 is a layer over this same Jetty that adds servlets, websockets
 * and the Kotlin runtime; Helidon SE is a framework of many modules; Vert.x is event-loop based,
 * while the engine's calls block for seconds). Jetty is long-lived and well kept (Eclipse
 * Foundation), runs blocking handlers on virtual threads, and streams a response through a plain
 * {@code OutputStream}, which is all that server-sent events need.
 */
public final class StarServer implements AutoCloseable {
    private final ServedModel served;
    private final Admission admission;
    private final MemoryBudget budget;
    private final LiveContexts contexts;
    private final DocumentStore documents;
    private final Routes routes;
    private final Server server;
    private final ServerConnector connector;

    public StarServer(LoadedModel model, InferenceEngine engine, ServerConfig cfg) {
        this(model, engine, cfg, null);
    }

    /** {@code requestLog}: takes one line per request (method, path, status, tokens, ms); null: none. */
    public StarServer(LoadedModel model, InferenceEngine engine, ServerConfig cfg, Consumer<String> requestLog) {
        this(model, engine, cfg, requestLog, null);
    }

    /** {@code auto}: {@code --attention auto}, each context's strategy chosen by it (null: the engine's). */
    public StarServer(LoadedModel model, InferenceEngine engine, ServerConfig cfg, Consumer<String> requestLog,
                      dev.starattn.engine.strategy.AutoAttention.Picker auto) {
        this.served = ServedModel.of(model, engine, cfg, auto);
        this.admission = new Admission(cfg.maxConcurrent(), cfg.queue());
        this.budget = new MemoryBudget(cfg.memoryBudget());
        Metrics metrics = new Metrics();
        this.contexts = new LiveContexts(served, metrics);
        TokenBounds bounds = new TokenBounds(model.tokenizer(), served.maxContext());
        RequestBodies bodies = new RequestBodies(cfg.maxBodyBytes());

        QueuedThreadPool pool = new QueuedThreadPool(64, 4);
        pool.setName("serve");
        // Handlers block (the engine computes for seconds): each request gets a virtual thread.
        pool.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server = new Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(cfg.bind());
        connector.setPort(cfg.port());
        connector.setIdleTimeout(Math.max(30_000, cfg.timeout().toMillis() + 10_000));
        server.addConnector(connector);

        this.documents = new DocumentStore(cfg, served, budget, admission, contexts, bounds);
        this.routes = new Routes(cfg, served, new AccessChecks(cfg, this::port), admission, documents,
                new DocumentHandler(cfg, documents, bodies),
                new CompletionHandler(cfg, served, budget, admission, documents, contexts, bounds, bodies, metrics),
                new MetricsPage(metrics, admission, documents, budget, engine, contexts), metrics, new RequestLog(requestLog));
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                routes.route(request, response, callback);
                return true;
            }
        });
    }

    public StarServer start() throws Exception {
        server.start();
        return this;
    }

    /** The port bound (the ephemeral one when configured with 0). */
    public int port() {
        return connector.getLocalPort();
    }

    public String modelId() {
        return served.id();
    }

    /** Documents held now (any status). */
    public int documentCount() {
        return documents.size();
    }

    /** Bytes of the memory budget in use. */
    public long budgetUsed() {
        return budget.used();
    }

    /** The admission control (tests take its slots to fill the queue deterministically). */
    Admission admission() {
        return admission;
    }

    /** Requests with a body being read or served now (at most --max-concurrent + --queue). */
    int bodiesInFlight() {
        return routes.bodiesInFlight();
    }

    /** Encoded contexts alive now (documents' and running requests'). */
    int liveContexts() {
        return contexts.size();
    }

    /** The KV bytes {@code tokens} tokens of a document take (see {@link LiveContexts#kvEstimate(DecoderConfig, EngineOptions, long)}). */
    static long kvEstimate(DecoderConfig c, EngineOptions o, long tokens) {
        return LiveContexts.kvEstimate(c, o, tokens);
    }

    public void join() throws InterruptedException {
        server.join();
    }

    @Override
    public void close() throws Exception {
        documents.stopExpiring();
        server.stop();
        documents.deleteAll();
    }
}

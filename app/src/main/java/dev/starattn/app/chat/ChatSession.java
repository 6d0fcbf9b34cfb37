package dev.starattn.app.chat;

import dev.starattn.app.cli.Phase1Progress;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.model.LoadedModel;
import dev.starattn.tokenizer.TokenStreamDecoder;
import java.io.PrintWriter;
import java.util.Arrays;

/**
 * One chat: the document's context encoded once over the hosts (phase 1), then per question a
 * phase-2 query of the conversation so far, the answer streamed as it comes. The context is
 * encoded again only when the text before the question changes (a new document, or a template
 * that moves the system prompt).
 */
final class ChatSession {
    private final LoadedModel model;
    private final Conversation conversation;
    private final int hosts;
    private final SamplingOptions sampling;
    private final int maxNew;
    private final PrintWriter out, err;
    private int[] encodedTokens;
    private EncodedContext encoded;
    private EngineOptions encodedWith;
    private GenerationResult last;
    private long lastPhase1Nanos;

    ChatSession(LoadedModel model, String system, java.util.Map<String, Object> vars, int hosts, SamplingOptions sampling, int maxNew, PrintWriter out, PrintWriter err) {
        this.model = model;
        this.conversation = new Conversation(model, system, vars);
        this.hosts = hosts;
        this.sampling = sampling;
        this.maxNew = maxNew;
        this.out = out;
        this.err = err;
    }

    Conversation conversation() {
        return conversation;
    }

    /** Sets the document and encodes it at once (phase 1, with a progress bar). */
    void load(String document) {
        conversation.setDocument(document);
        Conversation.Cut c = conversation.cutForDocument();
        ensureEncoded(c.context(), true);
    }

    /** Answers one question, streaming the answer to {@code out}; returns the answer's text. */
    String ask(String question) {
        conversation.addUser(question);
        try {
            Conversation.Cut c = conversation.cut();
            int limit = model.config().contextLength();
            if (limit > 0 && (long) c.context().length + c.query().length + maxNew > limit) {
                throw new IllegalArgumentException("the conversation (" + (c.context().length + c.query().length)
                        + " tokens) plus " + maxNew + " new tokens is longer than the model's context of " + limit + "; /reset or /load a shorter document");
            }
            ensureEncoded(c.context(), false);
            TokenStreamDecoder dec = new TokenStreamDecoder(model.tokenizer(), false);
            StringBuilder text = new StringBuilder();
            last = new InferenceEngine(model.model(), encodedWith).generate(encoded, c.query(), sampling, maxNew,
                    model.tokenizer()::isEndOfGeneration, id -> {
                        String s = dec.feed(id);
                        text.append(s);
                        out.print(s);
                        out.flush();
                    });
            String tail = dec.finish();
            text.append(tail);
            out.println(tail);
            out.flush();
            conversation.addAssistant(text.toString().strip());
            return text.toString();
        } catch (RuntimeException e) {
            conversation.dropLastUser();
            throw e;
        }
    }

    private void ensureEncoded(int[] context, boolean showProgress) {
        if (encoded != null && Arrays.equals(context, encodedTokens)) return;
        EngineOptions o = optionsFor(context.length);
        long t0 = System.nanoTime();
        encoded = new InferenceEngine(model.model(), o).encode(context,
                showProgress || context.length > 2048 ? new Phase1Progress(err) : ProgressListener.NONE);
        lastPhase1Nanos = System.nanoTime() - t0;
        encodedTokens = context;
        encodedWith = o;
    }

    /** Star attention over the hosts where the context can be shared by them; else fewer hosts, down to one. */
    private EngineOptions optionsFor(int n) {
        for (int h = hosts; h > 1; h--) {
            EngineOptions o = EngineOptions.of(Strategies.STAR, h);
            try {
                o.requireSplit(n);
                return o;
            } catch (IllegalArgumentException tooShort) {
                // try fewer hosts
            }
        }
        return EngineOptions.of(Strategies.STAR, 1);
    }

    void printStats() {
        err.printf("template: %s; document: %s%n", conversation.templateName(),
                conversation.document() == null ? "none" : conversation.document().length() + " chars");
        if (encoded == null) {
            err.println("nothing encoded yet");
        } else {
            err.printf("context: %d tokens over %d host(s), phase 1 %.0f ms%n", encodedTokens.length, encodedWith.hosts(), lastPhase1Nanos / 1e6);
        }
        if (last != null) {
            err.printf("last turn: %d query tokens, %d new tokens, first token %.0f ms, %.1f tokens/s; %d message(s) kept%n",
                    last.queryTokens(), last.tokens().length, last.ttftNanos() / 1e6, last.decodeTokensPerSecond(), conversation.turnCount());
        }
        err.flush();
    }
}

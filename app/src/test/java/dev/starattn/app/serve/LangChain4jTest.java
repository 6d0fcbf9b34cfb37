package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java ecosystem's OpenAI client (LangChain4j's OpenAI module) talks to starattn serve, streaming or not. */
class LangChain4jTest {
    @TempDir Path dir;

    @Test
    void langChain4jChatsWithTheServer() throws Exception {
        try (ServeFixture f = new ServeFixture(dir, ServerConfig.defaults().withApiKey("lc4j-key"), 2)) {
            String base = f.base + "/v1";
            OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base).apiKey("lc4j-key").modelName("tiny")
                    .maxTokens(6).temperature(0.0).timeout(Duration.ofSeconds(60)).maxRetries(0).build();
            String context = ServeFixture.text(400, 7);
            ChatResponse r = chat.chat(ChatRequest.builder()
                    .messages(SystemMessage.from(context), UserMessage.from("which river?")).build());
            assertNotNull(r.aiMessage().text());
            assertNotNull(r.finishReason());
            assertTrue(r.tokenUsage().inputTokenCount() > 400, r.tokenUsage().toString());

            // streaming: the pieces add up to the same (greedy) answer
            OpenAiStreamingChatModel streaming = OpenAiStreamingChatModel.builder().baseUrl(base).apiKey("lc4j-key").modelName("tiny")
                    .maxTokens(6).temperature(0.0).timeout(Duration.ofSeconds(60)).build();
            StringBuilder pieces = new StringBuilder();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming.chat(ChatRequest.builder().messages(SystemMessage.from(context), UserMessage.from("which river?")).build(),
                    new StreamingChatResponseHandler() {
                        @Override
                        public void onPartialResponse(String s) {
                            pieces.append(s);
                        }

                        @Override
                        public void onCompleteResponse(ChatResponse c) {
                            done.complete(c);
                        }

                        @Override
                        public void onError(Throwable t) {
                            done.completeExceptionally(t);
                        }
                    });
            ChatResponse s = done.get(60, TimeUnit.SECONDS);
            assertEquals(r.aiMessage().text(), pieces.toString());
            assertEquals(r.aiMessage().text(), s.aiMessage().text());

            // a document encoded once, named through LangChain4j's custom parameters
            String doc = f.document(ServeFixture.text(600, 8));
            OpenAiChatModel onDoc = OpenAiChatModel.builder().baseUrl(base).apiKey("lc4j-key").modelName("tiny").maxTokens(4)
                    .temperature(0.0).customParameters(Map.of("document_id", doc)).maxRetries(0).build();
            assertNotNull(onDoc.chat("what is blue?"));
        }
    }
}

package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/** Where a completion's answer goes: one JSON body ({@link BufferedAnswer}), or server-sent events ({@link StreamedAnswer}). */
interface AnswerSink {
    void delta(String text) throws IOException;

    /** After the last delta; false when the client has gone. */
    boolean alive();

    void finish(String finishReason, ObjectNode usage, ObjectNode extra) throws IOException;

    void error(ApiError e) throws IOException;
}

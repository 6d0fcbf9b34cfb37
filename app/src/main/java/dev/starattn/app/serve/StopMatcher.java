package dev.starattn.app.serve;

import java.util.List;

/**
 * OpenAI's {@code stop} sequences over streamed text: passes text on, holding back just enough to
 * cut the output before the first stop sequence, which is never emitted.
 */
final class StopMatcher {
    private final List<String> stops;
    private final int holdBack;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    StopMatcher(List<String> stops) {
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
        this.holdBack = this.stops.stream().mapToInt(String::length).max().orElse(1) - 1;
    }

    boolean stopped() {
        return stopped;
    }

    /** Text that may be emitted now. */
    String accept(String text) {
        if (stopped) return "";
        pending.append(text);
        int cut = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        if (cut >= 0) {
            stopped = true;
            String out = pending.substring(0, cut);
            pending.setLength(0);
            return out;
        }
        int emit = Math.max(0, pending.length() - holdBack);
        // never split a surrogate pair
        if (emit > 0 && emit < pending.length() && Character.isHighSurrogate(pending.charAt(emit - 1))) emit--;
        String out = pending.substring(0, emit);
        pending.delete(0, emit);
        return out;
    }

    /** The rest, at the end of generation. */
    String finish(String tail) {
        String out = accept(tail);
        if (stopped) return out;
        out += pending;
        pending.setLength(0);
        return out;
    }
}

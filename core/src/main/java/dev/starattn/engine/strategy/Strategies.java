package dev.starattn.engine.strategy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The strategies by name: a new strategy is registered here, in the order the help and errors list them. */
public final class Strategies {
    public static final AttentionStrategy DENSE = new DenseStrategy();
    public static final StarStrategy STAR = new StarStrategy();
    public static final RingStrategy RING = new RingStrategy();
    public static final RingStrategy RING_ZIGZAG = new RingZigzagStrategy();
    public static final StarPassStrategy STAR_PASS = new StarPassStrategy(StarPassStrategy.DEFAULT_PASS_TOKENS);

    private static final Map<String, AttentionStrategy> BY_NAME = new LinkedHashMap<>();

    static {
        for (AttentionStrategy s : List.of(DENSE, STAR, STAR_PASS, RING, RING_ZIGZAG)) BY_NAME.put(s.name(), s);
    }

    private Strategies() {}

    /** Every registered strategy, in registration order. */
    public static List<AttentionStrategy> all() {
        return List.copyOf(BY_NAME.values());
    }

    /**
     * The strategy named {@code name} (case-insensitive; '_' for '-' is accepted, "zigzag" for ring-zigzag, and
     * "star-pass:K" for star-pass passing K rows). Throws IllegalArgumentException naming the known ones otherwise.
     */
    public static AttentionStrategy byName(String name) {
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        if (key.equals("zigzag")) key = RING_ZIGZAG.name();
        if (key.startsWith(STAR_PASS.name() + ":")) return STAR_PASS.withPassTokens(passTokens(key.substring(STAR_PASS.name().length() + 1)));
        AttentionStrategy s = BY_NAME.get(key);
        if (s != null) return s;
        throw new IllegalArgumentException("unknown attention mode '" + name + "' (use " + names() + ")");
    }

    /**
     * The strategy named {@code name} with {@code --pass-tokens} applied when given (null: the strategy's own);
     * refused for a strategy that passes no rows.
     */
    public static AttentionStrategy byName(String name, Integer passTokens) {
        AttentionStrategy s = byName(name);
        if (passTokens == null) return s;
        if (s instanceof StarPassStrategy p) return p.withPassTokens(requirePassTokens(passTokens));
        throw new IllegalArgumentException("--pass-tokens applies to --attention " + STAR_PASS.name() + ", not " + s.name());
    }

    private static int passTokens(String k) {
        try {
            return requirePassTokens(Integer.parseInt(k.trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("star-pass:K takes a row count K, not '" + k + "'");
        }
    }

    private static int requirePassTokens(int k) {
        if (k < 0) throw new IllegalArgumentException("--pass-tokens must be 0 or more, got " + k);
        return k;
    }

    /** "dense, star, star-pass, ring or ring-zigzag". */
    public static String names() {
        List<String> n = new ArrayList<>(BY_NAME.keySet());
        if (n.size() == 1) return n.getFirst();
        return String.join(", ", n.subList(0, n.size() - 1)) + " or " + n.getLast();
    }
}

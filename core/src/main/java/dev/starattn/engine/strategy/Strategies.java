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

    private static final Map<String, AttentionStrategy> BY_NAME = new LinkedHashMap<>();

    static {
        for (AttentionStrategy s : List.of(DENSE, STAR, RING, RING_ZIGZAG)) BY_NAME.put(s.name(), s);
    }

    private Strategies() {}

    /** Every registered strategy, in registration order. */
    public static List<AttentionStrategy> all() {
        return List.copyOf(BY_NAME.values());
    }

    /**
     * The strategy named {@code name} (case-insensitive; '_' for '-' is accepted, and "zigzag" for ring-zigzag).
     * Throws IllegalArgumentException naming the known ones otherwise.
     */
    public static AttentionStrategy byName(String name) {
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        if (key.equals("zigzag")) key = RING_ZIGZAG.name();
        AttentionStrategy s = BY_NAME.get(key);
        if (s != null) return s;
        throw new IllegalArgumentException("unknown attention mode '" + name + "' (use " + names() + ")");
    }

    /** "dense, star, ring or ring-zigzag". */
    public static String names() {
        List<String> n = new ArrayList<>(BY_NAME.keySet());
        if (n.size() == 1) return n.getFirst();
        return String.join(", ", n.subList(0, n.size() - 1)) + " or " + n.getLast();
    }
}

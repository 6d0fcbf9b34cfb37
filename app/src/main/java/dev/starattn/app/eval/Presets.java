package dev.starattn.app.eval;

import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import java.util.ArrayList;
import java.util.List;

/** The Star Attention ablations (the paper's section 5): each runs several star configurations beside dense. */
public final class Presets {
    public static final List<String> NAMES = List.of("no-anchor", "anchor-positions", "anchor-content", "anchor-size", "block-size");

    private Presets() {}

    /** The configurations of a preset, built from {@code star} (hosts and the settings not ablated). */
    public static List<RunConfig> expand(String preset, RunConfig star) {
        List<RunConfig> out = new ArrayList<>();
        out.add(RunConfig.dense());
        switch (preset) {
            case "no-anchor" -> {
                out.add(star.withAnchor("b"));
                out.add(star.withAnchor("0"));
            }
            case "anchor-positions" -> {
                for (AnchorPositions p : AnchorPositions.values()) out.add(star.withAnchorKind(p, star.content()));
            }
            case "anchor-content" -> {
                for (AnchorContent c : AnchorContent.values()) out.add(star.withAnchorKind(star.positions(), c));
            }
            case "anchor-size" -> {
                for (String a : List.of("b/8", "b/4", "b/2", "b")) out.add(star.withAnchor(a));
            }
            case "block-size" -> {
                for (String b : List.of("n/16", "n/8", "n/4", "n/2")) out.add(star.withBlock(b));
            }
            default -> throw new IllegalArgumentException("unknown preset '" + preset + "' (use " + String.join(", ", NAMES) + ")");
        }
        return out;
    }
}

package dev.starattn.engine;

import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Strategies;

/**
 * Names of the built-in strategies, for code that picks one as a constant ({@code EngineOptions.of(AttentionMode.STAR, 4)});
 * the strategies themselves, and any added later, are {@link Strategies}'.
 */
public enum AttentionMode {
    DENSE("dense"),
    STAR("star"),
    RING("ring"),
    RING_ZIGZAG("ring-zigzag");

    public final String cliName;

    AttentionMode(String cliName) {
        this.cliName = cliName;
    }

    public AttentionStrategy strategy() {
        return Strategies.byName(cliName);
    }
}

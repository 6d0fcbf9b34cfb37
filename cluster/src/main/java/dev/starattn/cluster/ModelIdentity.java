package dev.starattn.cluster;

import dev.starattn.model.LoadedModel;

/**
 * What a query host and its context hosts compare before working together: the model's content
 * identity ({@link LoadedModel#fingerprint()}, a hash of every byte of every file the loader read),
 * so hosts whose weights differ anywhere, by one byte in the last tensor, are refused.
 */
public final class ModelIdentity {
    private ModelIdentity() {}

    public static String of(LoadedModel m) {
        return m.fingerprint();
    }
}

package dev.starattn.model;

/**
 * How a task is wrapped for a model, split at its task slot: {@code prefix} goes before the
 * context (phase 1), {@code suffix} after the query (phase 2). A property of the model: Llama 3
 * instruct models use the Llama 3 chat template; base models and our shipped model use none.
 */
public record PromptTemplate(String name, String prefix, String suffix, boolean prefixHasBos) {
    public static final PromptTemplate BASE = new PromptTemplate("base", "", "", false);

    public static final PromptTemplate LLAMA3 = new PromptTemplate("llama3",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\n",
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", true);

    public static PromptTemplate named(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "base", "none" -> BASE;
            case "llama3", "llama-3", "chat" -> LLAMA3;
            default -> throw new IllegalArgumentException("unknown template '" + name + "' (use base or llama3)");
        };
    }
}

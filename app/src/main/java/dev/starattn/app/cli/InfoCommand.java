package dev.starattn.app.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code starattn info}: what a model file holds. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Show a model's architecture, tokenizer and tensors.")
public final class InfoCommand implements Callable<Integer> {
    @Mixin ModelOption model;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        java.io.PrintWriter out = spec.commandLine().getOut();
        try (LoadedModel m = ModelCli.load(model.path(), false)) {
            DecoderConfig c = m.config();
            List<TensorRef> tensors = m.source() instanceof GgufFile g ? g.tensors()
                    : m.source() instanceof HfModelDir h ? h.tensors() : List.of();
            Map<String, Integer> types = new TreeMap<>();
            long params = 0, bytes = 0;
            for (TensorRef t : tensors) {
                types.merge(t.type().name(), 1, Integer::sum);
                params += t.elements();
                bytes += t.data().byteSize();
            }
            // A plain map, not a Jackson tree: the text form (what people run first) then loads no JSON classes.
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("path", m.path().toString());
            j.put("format", m.format());
            j.put("fingerprint", m.fingerprint());
            j.put("architecture", c.architecture());
            j.put("parameters", params);
            j.put("tensor_bytes", bytes);
            j.put("dim", c.dim());
            j.put("layers", c.layers());
            j.put("heads", c.heads());
            j.put("kv_heads", c.kvHeads());
            j.put("head_dim", c.headDim());
            j.put("ffn_dim", c.ffnDim());
            j.put("vocab_size", c.vocabSize());
            j.put("context_length", c.contextLength());
            j.put("rope_base", c.ropeBase());
            j.put("rope_style", c.ropeNeox() ? "neox" : "norm");
            j.put("rms_eps", c.rmsEps());
            j.put("tied_output", c.tiedOutput());
            j.put("qkv_bias", c.qkvBias());
            if (m.source() instanceof HfModelDir h) h.ignoredParts().ifPresent(parts -> j.put("ignored", ignoredText(parts, h.ignoredTensors())));
            j.put("template", m.template().name());
            Map<String, Object> tk = new LinkedHashMap<>();
            j.put("tokenizer", tk);
            tk.put("class", m.tokenizer().getClass().getSimpleName());
            tk.put("vocab_size", m.tokenizer().vocabSize());
            tk.put("bos_id", m.tokenizer().bosId());
            tk.put("eos_id", m.tokenizer().eosId());
            tk.put("add_bos", m.tokenizer().addBos());
            j.put("tensor_types", types);
            j.put("kv_bytes_per_token_f32", 2L * c.layers() * c.kvDim() * Float.BYTES);
            j.put("decode_kernel_q8_0", dev.starattn.tensor.MatVec.describeKernel());
            if (json) {
                out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(j));
            } else {
                j.forEach((k, v) -> out.printf("%-24s %s%n", k, v instanceof String t ? t : CompactJson.of(v)));
            }
        }
        out.flush();
        return 0;
    }

    /** The parts of a checkpoint the engine does not run (a vision tower), in one line. */
    private static String ignoredText(String parts, List<TensorRef> tensors) {
        long params = 0;
        for (TensorRef t : tensors) params += t.elements();
        return parts + " (" + tensors.size() + " tensors, " + params + " parameters): starattn runs the text model only";
    }
}

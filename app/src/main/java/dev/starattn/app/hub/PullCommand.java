package dev.starattn.app.hub;

import dev.starattn.cli.UsageException;
import dev.starattn.hub.Bytes;
import dev.starattn.hub.DownloadListener;
import dev.starattn.hub.FileSelection;
import dev.starattn.hub.HubEnvironment;
import dev.starattn.hub.HubPull;
import dev.starattn.hub.RepoRef;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code starattn pull ORG/NAME[@REVISION]}: a model from the Hub into the cache that huggingface_hub and transformers use. */
@Command(name = "pull", mixinStandardHelpOptions = true,
        description = {"Download a model from the Hugging Face Hub into its cache, the one huggingface_hub and transformers use "
                + "(HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub), then run it with -m ORG/NAME.",
                "Fetches only what starattn reads: config.json, the tokenizer files, generation_config.json and the "
                        + "safetensors shards, or one GGUF file of a GGUF repository. An interrupted pull resumes where it stopped.",
                "Environment: HF_ENDPOINT (another Hub or a mirror), HF_TOKEN (gated and private models), HF_HUB_OFFLINE=1 (no network)."})
public final class PullCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ORG/NAME[@REVISION]", description = "The repository, and a branch, tag or commit (default main).")
    String repo;

    @Option(names = "--file", paramLabel = "GGUF", description = "The GGUF file to fetch from a GGUF repository: its name or quantization "
            + "(e.g. Q4_K_M); default: the only one, else Q8_0, else Q4_K_M.")
    String file;

    @Option(names = "--include", paramLabel = "GLOB", description = "Fetch the files that match instead (repeatable), e.g. --include '*.json'.")
    List<String> include;

    @Option(names = {"-q", "--quiet"}, description = "No progress on stderr.")
    boolean quiet;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private final HubEnvironment env;

    public PullCommand() {
        this(HubEnvironment.fromSystem());
    }

    /** With a given environment (tests point it at their own Hub and cache). */
    public PullCommand(HubEnvironment env) {
        this.env = env;
    }

    @Override
    public Integer call() {
        RepoRef ref = RepoRef.require(repo);
        if (file != null && include != null) throw new UsageException("give --file or --include, not both");
        DownloadListener progress = quiet ? DownloadListener.NONE : ConsoleProgress.forStderr();
        HubPull.Result r = new HubPull(env, progress).pull(ref, new FileSelection(include, file));
        if (!quiet) {
            System.err.printf("%s at %s: %d file%s, %s downloaded, in %s%n", ref, r.commit().substring(0, 12), r.files().size(),
                    r.files().size() == 1 ? "" : "s", Bytes.human(r.downloadedBytes()), r.snapshot());
        }
        out().println(r.model()); // what -m ORG/NAME now resolves to, for scripts
        out().flush();
        return 0;
    }

    private java.io.PrintWriter out() {
        return spec.commandLine().getOut();
    }
}

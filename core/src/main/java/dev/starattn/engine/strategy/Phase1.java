package dev.starattn.engine.strategy;

import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.ProgressListener;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** How hosts run their phase-1 tasks: the scheduling strategies share. */
public final class Phase1 {
    private Phase1() {}

    /**
     * Tasks that need no communication: in-process hosts of one processor take turns (each timed on its own),
     * hosts of different processors (CPU, each GPU) and remote hosts work at the same time. A failing host fails
     * the call with its name.
     */
    public static void independently(List<? extends ContextHost> hosts, List<EncodeTask> tasks, ProgressListener progress) {
        requireOnePerHost(hosts, tasks);
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Void>> futures = new ArrayList<>();
            for (int h = 0; h < hosts.size(); h++) {
                ContextHost host = hosts.get(h);
                EncodeTask task = tasks.get(h);
                if (host.isRemote()) {
                    futures.add(pool.submit(() -> {
                        host.encode(task, progress);
                        return null;
                    }));
                }
            }
            List<List<Integer>> groups = inProcessByProcessor(hosts);
            for (int g = 1; g < groups.size(); g++) {
                List<Integer> turns = groups.get(g);
                futures.add(pool.submit(() -> {
                    for (int h : turns) hosts.get(h).encode(tasks.get(h), progress);
                    return null;
                }));
            }
            if (!groups.isEmpty()) {
                for (int h : groups.getFirst()) hosts.get(h).encode(tasks.get(h), progress);  // the first processor on this thread
            }
            for (var f : futures) await(f);
        }
    }

    /** Tasks whose hosts wait for each other (a ring): every host is started at once, each on a thread of its own. */
    public static void together(List<? extends ContextHost> hosts, List<EncodeTask> tasks, ProgressListener progress) {
        requireOnePerHost(hosts, tasks);
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Void>> futures = new ArrayList<>();
            for (int h = 0; h < hosts.size(); h++) {
                ContextHost host = hosts.get(h);
                EncodeTask task = tasks.get(h);
                futures.add(pool.submit(() -> {
                    host.encode(task, progress);
                    return null;
                }));
            }
            for (var f : futures) await(f);
        }
    }

    /**
     * Indices of the in-process hosts grouped by {@link ContextHost#processor()}, groups in order of first
     * appearance, hosts in order within a group: one group takes turns on one thread.
     */
    public static List<List<Integer>> inProcessByProcessor(List<? extends ContextHost> hosts) {
        Map<String, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < hosts.size(); i++) {
            if (!hosts.get(i).isRemote()) groups.computeIfAbsent(hosts.get(i).processor(), k -> new ArrayList<>()).add(i);
        }
        return new ArrayList<>(groups.values());
    }

    /** The future's value; its failure rethrown as it was thrown (a checked one wrapped). */
    public static <T> T await(Future<T> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a context host", e);
        }
    }

    private static void requireOnePerHost(List<? extends ContextHost> hosts, List<EncodeTask> tasks) {
        if (hosts.size() != tasks.size()) {
            throw new IllegalArgumentException(tasks.size() + " phase-1 task(s) for " + hosts.size() + " host(s)");
        }
    }
}

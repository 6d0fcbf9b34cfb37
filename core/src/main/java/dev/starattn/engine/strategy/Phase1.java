package dev.starattn.engine.strategy;

import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.ProgressListener;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** How hosts run their phase-1 tasks: the scheduling strategies share. */
public final class Phase1 {
    private Phase1() {}

    /**
     * Tasks that need no communication: in-process hosts of one processor take turns (each timed on its own),
     * hosts of different processors (CPU, each GPU) and remote hosts work at the same time. The first host to
     * fail fails the call at once, with its name: the others are cancelled ({@link ContextHost#cancelEncode});
     * in-process work is waited for until it has stopped (within a layer), remote calls wind down on their own.
     */
    public static void independently(List<? extends ContextHost> hosts, List<EncodeTask> tasks, ProgressListener progress) {
        requireOnePerHost(hosts, tasks);
        IndependentRun run = new IndependentRun();
        // Not closed when a host fails (closing waits for every task): the remote calls left end by their cancellation.
        var pool = Executors.newVirtualThreadPerTaskExecutor();
        for (int h = 0; h < hosts.size(); h++) {
            ContextHost host = hosts.get(h);
            EncodeTask task = tasks.get(h);
            if (host.isRemote()) {
                run.started(List.of(host), true);
                pool.submit(() -> run.turns(List.of(host), List.of(task), progress, true));
            }
        }
        List<List<Integer>> groups = inProcessByProcessor(hosts);
        for (List<Integer> g : groups) run.started(g.stream().map(hosts::get).toList(), false);
        for (int g = 1; g < groups.size(); g++) {
            List<Integer> turns = groups.get(g);
            pool.submit(() -> run.turns(turns.stream().map(hosts::get).toList(), turns.stream().map(tasks::get).toList(), progress, false));
        }
        if (!groups.isEmpty()) {
            List<Integer> first = groups.getFirst();  // the first processor on this thread
            run.turns(first.stream().map(hosts::get).toList(), first.stream().map(tasks::get).toList(), progress, false);
        }
        run.await();
        pool.close();
    }

    /**
     * One {@link #independently} run: which hosts are still working, and the first failure. A host is told to
     * stop only while its phase 1 of this run may still be running, so a late cancellation never reaches its next
     * request.
     */
    private static final class IndependentRun {
        private final Set<ContextHost> running = new HashSet<>();
        private int localGroups, remoteHosts;
        private Throwable first;

        synchronized void started(List<? extends ContextHost> group, boolean remote) {
            for (ContextHost h : group) {
                h.resetCancel();
                running.add(h);
            }
            if (remote) remoteHosts++;
            else localGroups++;
        }

        /** Runs one group's tasks (in-process hosts of a processor in turn, or one remote host). */
        Void turns(List<? extends ContextHost> group, List<EncodeTask> tasks, ProgressListener progress, boolean remote) {
            try {
                for (int i = 0; i < group.size(); i++) {
                    ContextHost h = group.get(i);
                    try {
                        if (!failed()) h.encode(tasks.get(i), progress);
                    } finally {
                        ended(h);
                    }
                }
            } catch (RuntimeException | Error e) {
                fail(e);
            } finally {
                groupEnded(group, remote);
            }
            return null;
        }

        private synchronized boolean failed() {
            return first != null;
        }

        private synchronized void ended(ContextHost h) {
            running.remove(h);
        }

        private synchronized void groupEnded(List<? extends ContextHost> group, boolean remote) {
            running.removeAll(group);
            if (remote) remoteHosts--;
            else localGroups--;
            notifyAll();
        }

        private synchronized void fail(Throwable e) {
            if (first != null) return;  // a host cancelled because of the first failure
            first = e;
            String why = e.getMessage() != null ? e.getMessage() : e.toString();
            for (ContextHost h : running) h.cancelEncode(why);
            notifyAll();
        }

        /** Until every host is done, or one failed and every in-process host has stopped; then throws the first failure. */
        synchronized void await() {
            boolean interrupted = false;
            while (localGroups > 0 || (first == null && remoteHosts > 0)) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    if (!interrupted) fail(new IllegalStateException("interrupted while waiting for the context hosts", e));
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
            if (first instanceof RuntimeException r) throw r;
            if (first instanceof Error err) throw err;
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

package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The members of one GPU run meet, one of them runs it over all their items, and all return or throw together (no GPU needed). */
class GpuRendezvousTest {
    @Test
    void theLastToArriveRunsTheWholeRunOverTheItemsInMemberOrder() throws Exception {
        GpuRendezvous<String> r = new GpuRendezvous<>("test run");
        AtomicInteger runs = new AtomicInteger();
        List<List<String>> seen = new ArrayList<>();
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> all = new ArrayList<>();
            for (int i = 2; i >= 0; i--) {
                int index = i;
                all.add(pool.submit(() -> r.join("a", index, 3, "item" + index, items -> {
                    runs.incrementAndGet();
                    synchronized (seen) {
                        seen.add(items);
                    }
                })));
            }
            for (Future<?> f : all) f.get();
        }
        assertEquals(1, runs.get());
        assertEquals(List.of(List.of("item0", "item1", "item2")), seen);
    }

    @Test
    void aFailedRunFailsEveryMember() throws Exception {
        GpuRendezvous<Integer> r = new GpuRendezvous<>("test run");
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> all = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                int index = i;
                all.add(pool.submit(() -> r.join("b", index, 2, index, items -> {
                    throw new IllegalStateException("out of GPU memory");
                })));
            }
            for (Future<?> f : all) {
                ExecutionException e = assertThrows(ExecutionException.class, f::get);
                assertEquals("out of GPU memory", e.getCause().getMessage());
            }
        }
    }
}

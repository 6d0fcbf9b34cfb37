package dev.starattn.cuda;

/**
 * Weights drawn on the GPU (kernel {@code fill_normal_bf16}: normal, std 0.02, as Hugging Face
 * initialises Llama; norms 1; no biases), so that an 8B-shaped model needs no file and no upload.
 */
final class RandomWeights implements WeightSource {
    private final CudaDevice dev;
    private final long seed;
    private int drawn;

    RandomWeights(CudaDevice dev, long seed) {
        this.dev = dev;
        this.seed = seed;
    }

    /**
     * A model of shape {@code c} whose weights are drawn on the GPU (normal, std 0.02; norms 1), for
     * speed benchmarks of shapes whose files would be tens of gigabytes (Llama-3.1-8B).
     */
    public static CudaModel model(CudaDevice dev, dev.starattn.model.DecoderConfig c, long seed) {
        return new CudaModel(dev, c, new RandomWeights(dev, seed));
    }

    @Override
    public long matrix(dev.starattn.model.family.TensorRole name, int layer, int rows, int cols) {
        long n = (long) rows * cols;
        long p = dev.alloc(2L * n);
        dev.launch("fill_normal_bf16", dev.gridFor(n, 256), 1, 1, 256, 0, p, n, seed * 1_000_003L + drawn++, 0.02f);
        return p;
    }

    @Override
    public long vector(dev.starattn.model.family.TensorRole name, int layer, int n) {
        if (name.isBias()) return 0;
        float[] ones = new float[n];
        java.util.Arrays.fill(ones, 1f);
        return dev.upload(ones);
    }
}

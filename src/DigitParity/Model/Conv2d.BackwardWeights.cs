using DigitParity.Engine;

namespace DigitParity.Model;

// The weight gradient dW = colsᵀ·dy, as its transpose dyᵀ·cols, dense or skipping zero gradients.
public sealed partial class Conv2d
{
    // dW (K·K·C, OC) = colsᵀ·dy over the whole batch, computed as its transpose dWᵀ (OC, K·K·C) = dyᵀ·cols into
    // scratch (OC · K·K·C floats): the long im2col matrix is then the streamed B operand, read once per 64-column
    // panel and in order, instead of being read transposed (measured 2× faster for conv2). Each element is summed
    // by one worker in sample order, so the result does not depend on the split. Wide layers split the panels (the
    // worker then owns dW rows [p0, p1), returned); narrow ones split the output channels, and worker 0 transposes
    // after a barrier (returns the whole tensor for worker 0, nothing for the others). db = Σ rows of dy, each worker
    // its share of the channels (BiasShare).
    // With lists of dy's non-zero pixels, the product skips the rest: for wide layers (split by panels) one list per
    // channel (SparseRows.ListColumns: rows × OC ints, list c at c·rows), for narrow ones one per tile of 5 channels
    // (ActiveDepth.ForColumns: the rows where one of them is non-zero).
    // With input (the stage's x) and rowOffsets (RowOffsets), a panel-split layer with depth lists reads each pixel's
    // im2col row straight from x instead of cols (the same values, so the same bits; cols may then be empty).
    internal (int Start, int End) BackwardWeights(ParameterStore store, ReadOnlySpan<float> cols, ReadOnlySpan<float> dy, Span<float> scratch,
        int batch, WorkerPool pool, int worker, ReadOnlySpan<int> depthLists = default, ReadOnlySpan<int> depthCounts = default,
        ReadOnlySpan<float> input = default, ReadOnlySpan<int> rowOffsets = default)
    {
        int rows = batch * OutPixels, workers = pool.Count;
        Span<float> dw = store.Gradient(Weight);
        var (c0, c1) = BiasShare(worker, workers);
        if (c0 < c1) Activations.ColumnSums(dy, OutChannels, rows, c0, c1, store.Gradient(Bias)[c0..c1]);
        if (SplitsPanels(workers))
        {
            var (p0, p1) = Partition.Share(Depth, Linear.PanelWidth, worker, workers);
            if (p0 < p1)
            {
                if (depthCounts.IsEmpty)
                    Gemm.Multiply(dy, OutChannels, cols[p0..], Depth, default, scratch[p0..], Depth, OutChannels, p1 - p0, rows, GemmOptions.TransposeA);
                else if (!input.IsEmpty)
                    MultiplySparseTransposedFromInput(dy, input, rowOffsets, scratch, rows, p0, p1, depthLists, depthCounts);
                else
                    MultiplySparseTransposed(dy, cols, scratch, rows, p0, p1, depthLists, depthCounts);
                Gemm.Transpose(scratch[p0..], Depth, dw[(p0 * OutChannels)..], OutChannels, OutChannels, p1 - p0);
            }
            return (p0, p1);
        }
        var (o0, o1) = Partition.Share(OutChannels, Gemm.TileRows, worker, workers);
        int tile = o0 / Gemm.TileRows; // o0 starts a tile
        if (o0 < o1)
            Gemm.Multiply(new GemmProduct(dy[o0..], OutChannels, cols, Depth, scratch[(o0 * Depth)..], Depth, o1 - o0, Depth, rows, GemmOptions.TransposeA)
            {
                DepthLists = depthLists.IsEmpty ? default : depthLists[(tile * rows)..], DepthCounts = depthCounts.IsEmpty ? default : depthCounts[tile..],
            });
        pool.Barrier();
        if (worker != 0) return (0, 0);
        Gemm.Transpose(scratch, Depth, dw, OutChannels, OutChannels, Depth);
        return (0, Depth);
    }

    internal bool SplitsPanels(int workers) => Depth >= Linear.PanelWidth * workers;

    // Rows a chunk of the sparse weight gradient: measured 1.8 ms a step for conv2 against 2.0 with 64 and 2.5 with 320.
    private const int WeightChunkRows = 128;

    // Columns [p0, p1) of dWᵀ = dyᵀ·cols, each channel visiting only the pixels where its gradient is non-zero (lists:
    // per channel, OC of them; after max pooling ~1 pixel in 7), the rows a chunk at a time so that the chunk's
    // columns stay in this core's cache while all channels visit them.
    private unsafe void MultiplySparseTransposed(ReadOnlySpan<float> dy, ReadOnlySpan<float> cols, Span<float> scratch, int rows, int p0, int p1,
        ReadOnlySpan<int> lists, ReadOnlySpan<int> counts)
    {
        if (lists.Length < (long)OutChannels * rows || counts.Length < OutChannels) throw new ArgumentException("Expected a list of rows for every channel.");
        Span<int> cursors = stackalloc int[2 * OutChannels];
        fixed (float* pdy = dy, pcols = cols, pscratch = scratch)
        fixed (int* plists = lists, pcounts = counts)
            SparseRows.MultiplyTransposed(pdy, OutChannels, plists, rows, pcounts, OutChannels, rows, pcols + p0, Depth, pscratch + p0, Depth, p1 - p0,
                WeightChunkRows, cursors, Gemm.BestIsa);
    }

    // As MultiplySparseTransposed, with pixel p's im2col row read from x: its run ky (K·C floats) starts at
    // x[rowOffsets[p] + ky·W·C]. Columns [p0, p1) go by one run at a time, so every product reads one contiguous stretch.
    private unsafe void MultiplySparseTransposedFromInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<int> rowOffsets, Span<float> scratch,
        int rows, int p0, int p1, ReadOnlySpan<int> lists, ReadOnlySpan<int> counts)
    {
        if (lists.Length < (long)OutChannels * rows || counts.Length < OutChannels) throw new ArgumentException("Expected a list of rows for every channel.");
        if (rowOffsets.Length < rows) throw new ArgumentException($"Expected {rows} row offsets.", nameof(rowOffsets));
        if (x.Length < rows / OutPixels * InSize) throw new ArgumentException("x is too short for the batch.", nameof(x));
        int run = Kernel * InChannels, rowStride = InWidth * InChannels;
        Span<int> cursors = stackalloc int[2 * OutChannels];
        fixed (float* pdy = dy, px = x, pscratch = scratch)
        fixed (int* plists = lists, pcounts = counts, poffsets = rowOffsets)
            for (int ky = p0 / run; ky * run < p1; ky++)
            {
                int s0 = Math.Max(p0, ky * run), s1 = Math.Min(p1, (ky + 1) * run);
                SparseRows.MultiplyTransposed(pdy, OutChannels, plists, rows, pcounts, OutChannels, rows, px + ky * rowStride + (s0 - ky * run), 0,
                    pscratch + s0, Depth, s1 - s0, WeightChunkRows, cursors, Gemm.BestIsa, poffsets);
            }
    }

    /// <summary>The bias channels worker <paramref name="worker"/> sums and updates (whole groups of 8).</summary>
    internal (int Start, int End) BiasShare(int worker, int workers) => Partition.Share(OutChannels, 8, worker, workers);
}

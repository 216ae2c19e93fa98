using DigitParity.Engine;

namespace DigitParity.Model;

// The weight gradient dW = colsᵀ·dy, as its transpose dyᵀ·cols, dense or skipping zero gradients.
internal sealed partial class Conv2d
{
    // dW (K·K·C, OC) = colsᵀ·dy over the whole batch, computed as its transpose dWᵀ (OC, K·K·C) = dyᵀ·cols into
    // scratch (OC · K·K·C floats): the long im2col matrix is then the streamed B operand, read once per 64-column
    // panel and in order, instead of being read transposed (measured 2× faster for conv2). Each element is summed in
    // sample order whatever the split, so the result does not depend on it. Split either way (StepSchedule): wide
    // layers by panels of dWᵀ's columns (WeightGradientPanels, each transposed into dW at once), narrow ones by output
    // channels (WeightGradientChannels, transposed once every channel is done: TransposeWeightGradient).
    // With lists of dy's non-zero pixels, the product skips the rest: for wide layers one list per channel
    // (SparseRows.ListColumns: rows × OC ints, list c at c·rows), for narrow ones one per tile of 5 channels
    // (ActiveDepth.ForColumns: the rows where one of them is non-zero).

    // The whole dense weight and bias gradient on one worker.
    internal void BackwardWeights(ParameterStore store, ReadOnlySpan<float> cols, ReadOnlySpan<float> dy, Span<float> scratch, int batch)
    {
        BiasGradient(store, dy, batch, 0, OutChannels);
        if (StepSchedule.SplitsPanels(this, 1))
        {
            WeightGradientPanels(store, cols, dy, scratch, batch, 0, Depth);
            return;
        }
        WeightGradientChannels(cols, dy, scratch, batch, 0, OutChannels);
        TransposeWeightGradient(store, scratch);
    }

    // db[c] = Σ rows of dy (B·OH·OW, OC), channels [c0, c1).
    internal void BiasGradient(ParameterStore store, ReadOnlySpan<float> dy, int batch, int c0, int c1)
    {
        if (c0 < c1) Activations.ColumnSums(dy, OutChannels, batch * OutPixels, c0, c1, store.Gradient(Bias)[c0..c1]);
    }

    // dW rows [p0, p1) (whole panels of dWᵀ's columns), through scratch. With input (the stage's x) and rowOffsets
    // (RowOffsets), the sparse product reads each pixel's im2col row straight from x instead of cols (the same values,
    // so the same bits; cols may then be empty).
    internal void WeightGradientPanels(ParameterStore store, ReadOnlySpan<float> cols, ReadOnlySpan<float> dy, Span<float> scratch, int batch, int p0, int p1,
        ReadOnlySpan<int> depthLists = default, ReadOnlySpan<int> depthCounts = default, ReadOnlySpan<float> input = default, ReadOnlySpan<int> rowOffsets = default)
    {
        if (p0 >= p1) return;
        int rows = batch * OutPixels;
        if (depthCounts.IsEmpty)
            Gemm.Multiply(dy, OutChannels, cols[p0..], Depth, default, scratch[p0..], Depth, OutChannels, p1 - p0, rows, GemmOptions.TransposeA);
        else if (!input.IsEmpty)
            MultiplySparseTransposedFromInput(dy, input, rowOffsets, scratch, rows, p0, p1, depthLists, depthCounts);
        else
            MultiplySparseTransposed(dy, cols, scratch, rows, p0, p1, depthLists, depthCounts);
        Gemm.Transpose(scratch[p0..], Depth, store.Gradient(Weight)[(p0 * OutChannels)..], OutChannels, OutChannels, p1 - p0);
    }

    // dWᵀ rows [o0, o1) (output channels, o0 starting a 5-channel tile) into scratch.
    internal void WeightGradientChannels(ReadOnlySpan<float> cols, ReadOnlySpan<float> dy, Span<float> scratch, int batch, int o0, int o1,
        ReadOnlySpan<int> depthLists = default, ReadOnlySpan<int> depthCounts = default)
    {
        if (o0 >= o1) return;
        int rows = batch * OutPixels, tile = o0 / Gemm.TileRows;
        Gemm.Multiply(new GemmProduct(dy[o0..], OutChannels, cols, Depth, scratch[(o0 * Depth)..], Depth, o1 - o0, Depth, rows, GemmOptions.TransposeA)
        {
            DepthLists = depthLists.IsEmpty ? default : depthLists[(tile * rows)..], DepthCounts = depthCounts.IsEmpty ? default : depthCounts[tile..],
        });
    }

    // dW (K·K·C, OC) = the transpose of the finished dWᵀ in scratch.
    internal void TransposeWeightGradient(ParameterStore store, ReadOnlySpan<float> scratch) =>
        Gemm.Transpose(scratch, Depth, store.Gradient(Weight), OutChannels, OutChannels, Depth);

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
            SparseRows.MultiplyTransposed(new SparseProduct
            {
                A = pdy, Lda = OutChannels, Lists = plists, ListStride = rows, Counts = pcounts, B = pcols + p0, Ldb = Depth,
                C = pscratch + p0, Ldc = Depth, M = OutChannels, N = p1 - p0, K = rows,
            }, WeightChunkRows, cursors, Gemm.BestIsa);
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
                SparseRows.MultiplyTransposed(new SparseProduct
                {
                    A = pdy, Lda = OutChannels, Lists = plists, ListStride = rows, Counts = pcounts, B = px + ky * rowStride + (s0 - ky * run),
                    RowOffsets = poffsets, C = pscratch + s0, Ldc = Depth, M = OutChannels, N = s1 - s0, K = rows,
                }, WeightChunkRows, cursors, Gemm.BestIsa);
            }
    }
}

using DigitParity.Engine;

namespace DigitParity.Model;

// The input gradient: dcols = dy·Wᵀ, then col2im, a cache-sized chunk at a time.
internal sealed partial class Conv2d
{
    // Samples whose im2col rows fill ~1 MB (half this machine's 2 MB L2), a multiple of 5 so that chunks start tiles.
    private int CacheChunk => Math.Max(Gemm.TileRows, (1 << 20) / (OutPixels * Depth * sizeof(float)) / Gemm.TileRows * Gemm.TileRows);

    // dy: (B·OH·OW, OC), the gradient at the pre-activation -> dx: (B, H, W, C) for samples [b0, b1):
    // dcols = dy·Wᵀ, then col2im, a few samples at a time so that their dcols rows (1 MB for conv2) are still in this
    // core's cache when col2im reads them back (measured: the whole share's 10 MB went through memory, and the product
    // wrote at a third of its speed). wT (OC, K·K·C) must hold Wᵀ; dx is overwritten.
    // With depth lists over dy's rows (ActiveDepth.ForRows, global tile numbers; b0 must start a 5-row tile), each
    // tile of 5 pixels skips the channels whose gradient is 0 at all of them: after max pooling, most are.
    internal void BackwardInput(ReadOnlySpan<float> wT, ReadOnlySpan<float> dy, Span<float> dcols, Span<float> dx, int b0, int b1,
        ReadOnlySpan<int> depthLists = default, ReadOnlySpan<int> depthCounts = default)
    {
        if (b0 >= b1) return;
        dx.Slice(b0 * InSize, (b1 - b0) * InSize).Clear();
        for (int s0 = b0; s0 < b1; s0 += CacheChunk)
        {
            int s1 = Math.Min(b1, s0 + CacheChunk), r0 = s0 * OutPixels, rows = (s1 - s0) * OutPixels;
            ReadOnlySpan<int> lists = default, counts = default;
            if (!depthCounts.IsEmpty)
            {
                if (r0 % Gemm.TileRows != 0) throw new ArgumentException("Depth lists need the rows to start a tile.", nameof(b0));
                int tile = r0 / Gemm.TileRows;
                lists = depthLists[(tile * OutChannels)..];
                counts = depthCounts[tile..];
            }
            Gemm.Multiply(new GemmProduct(dy[(r0 * OutChannels)..], OutChannels, wT, Depth, dcols[(r0 * Depth)..], Depth, rows, Depth, OutChannels)
            {
                DepthLists = lists, DepthCounts = counts,
            });
            Col2ImAdd(dcols[(r0 * Depth)..], dx, s0, s1);
        }
    }

    // Samples whose dcols rows fill 256 KB (conv2: one sample): measured as fast as 2 or 5 samples a chunk.
    private int SparseChunk => Math.Max(1, (256 << 10) / (OutPixels * Depth * sizeof(float)));

    // dy: (B·OH·OW, OC), the gradient at the pre-activation, with its row masks (ActiveDepth.NonZeroMasks) ->
    // dx: (B, H, W, C) for samples [b0, b1), a cache chunk at a time: dcols = dy·Wᵀ with each pixel visiting only its own
    // non-zero channels (after max pooling ~1 in 8; the tiled product skips a channel only where it is 0 at 5 pixels
    // at once, which after pooling is rare), then col2im. The same bits as BackwardInput: each dcols element is the same
    // fma chain and rows are added in the same order. wT (OC, K·K·C) must hold Wᵀ; lists (OC ints a row) and counts
    // (one a row) are scratch indexed by dy's row; dx is overwritten.
    internal unsafe void BackwardInputSparse(ReadOnlySpan<float> wT, ReadOnlySpan<float> dy, ReadOnlySpan<ulong> masks, Span<int> lists, Span<int> counts,
        Span<float> dcols, Span<float> dx, int b0, int b1)
    {
        if (b0 >= b1) return;
        int words = ActiveDepth.MaskWords(OutChannels);
        long rows = (long)b1 * OutPixels;
        if (wT.Length < OutChannels * Depth || dy.Length < rows * OutChannels || masks.Length < rows * words || lists.Length < rows * OutChannels
            || counts.Length < rows || dcols.Length < rows * Depth || dx.Length < b1 * InSize)
            throw new ArgumentException("wT, dy, masks, lists, counts, dcols or dx is too short for the samples.");
        dx.Slice(b0 * InSize, (b1 - b0) * InSize).Clear();
        fixed (float* pw = wT, pdy = dy, pcols = dcols)
        fixed (int* plists = lists, pcounts = counts)
        {
            for (int s0 = b0; s0 < b1; s0 += SparseChunk)
            {
                int s1 = Math.Min(b1, s0 + SparseChunk), r0 = s0 * OutPixels, r1 = s1 * OutPixels;
                SparseRows.List(masks, words, r0, r1, lists, OutChannels, counts);
                // Every chunk reuses the first rows of the share, which stay in this core's cache.
                SparseRows.Multiply(pdy + (nint)r0 * OutChannels, OutChannels, plists + (nint)r0 * OutChannels, OutChannels, pcounts + r0, r1 - r0,
                    pw, Depth, pcols + (nint)b0 * OutPixels * Depth, Depth, Depth, Gemm.BestIsa);
                Col2ImAdd(dcols[(b0 * OutPixels * Depth)..], dx, s0, s1);
            }
        }
    }
}

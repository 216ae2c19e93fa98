using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// 2-D convolution, stride 1, no padding, over channels-last images: x (B, H, W, C) → y (B, H−K+1, W−K+1, OC),
/// computed as one matrix multiply per pass through im2col (each output pixel's K·K·C inputs as a row, contiguous in
/// channels-last), so the work runs on our register-blocked kernel: y = cols · W + b with W (K·K·C, OC), rows in
/// (ky, kx, c) order. Measured against a direct convolution (25 shifted products) in the benchmarks' profile-cnn.
/// A stage that <see cref="UsesWinograd"/> computes its forward pass with Winograd's F(4×4, 5×5) instead.
/// </summary>
public sealed class Conv2d
{
    /// <summary>Declares W (K·K·C, OC) and b (OC) in <paramref name="layout"/>.</summary>
    public Conv2d(ParameterLayout layout, string name, int inChannels, int outChannels, int kernel, int inHeight, int inWidth)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kernel, 1);
        if (kernel > inHeight || kernel > inWidth) throw new ArgumentException($"A {kernel}x{kernel} kernel does not fit a {inHeight}x{inWidth} input.");
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        InHeight = inHeight;
        InWidth = inWidth;
        Weight = layout.Add(name + ".weight", [kernel * kernel * inChannels, outChannels], decay: true);
        Bias = layout.Add(name + ".bias", [outChannels], decay: false);
    }

    /// <summary>Input channels C.</summary>
    public int InChannels { get; }

    /// <summary>Output channels OC.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel side K.</summary>
    public int Kernel { get; }

    /// <summary>Input height H.</summary>
    public int InHeight { get; }

    /// <summary>Input width W.</summary>
    public int InWidth { get; }

    /// <summary>H − K + 1.</summary>
    public int OutHeight => InHeight - Kernel + 1;

    /// <summary>W − K + 1.</summary>
    public int OutWidth => InWidth - Kernel + 1;

    /// <summary>Output pixels per sample.</summary>
    public int OutPixels => OutHeight * OutWidth;

    /// <summary>K·K·C: the length of one im2col row, the depth of the product.</summary>
    public int Depth => Kernel * Kernel * InChannels;

    /// <summary>Floats per input sample.</summary>
    public int InSize => InHeight * InWidth * InChannels;

    /// <summary>Floats per output sample.</summary>
    public int OutSize => OutPixels * OutChannels;

    /// <summary>(K·K·C, OC), row-major.</summary>
    public ParameterTensor Weight { get; }

    /// <summary>(OC).</summary>
    public ParameterTensor Bias { get; }

    /// <summary>PyTorch's default for Conv2d: W and b uniform in ±1/sqrt(C·K·K), drawn in storage order.</summary>
    public void Initialize(ParameterStore store, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(rng);
        float bound = 1f / MathF.Sqrt(Depth);
        foreach (ref float w in store.Value(Weight)) w = rng.NextUniform(bound);
        foreach (ref float b in store.Value(Bias)) b = rng.NextUniform(bound);
    }

    /// <summary>W in PyTorch's Conv2d layout (OC, C, K, K), from a buffer laid out like the parameters.</summary>
    public float[] ReadTorchWeight(ReadOnlySpan<float> values)
    {
        ReadOnlySpan<float> w = values.Slice(Weight.Offset, Weight.Length);
        var torch = new float[w.Length];
        for (int o = 0; o < OutChannels; o++)
            for (int i = 0; i < InChannels; i++)
                for (int y = 0; y < Kernel; y++)
                    for (int x = 0; x < Kernel; x++) torch[TorchIndex(o, i, y, x)] = w[OurIndex(o, i, y, x)];
        return torch;
    }

    /// <summary>Our (K·K·C, OC) layout of a weight given in PyTorch's (OC, C, K, K) layout.</summary>
    public void WriteTorchWeight(ReadOnlySpan<float> torch, Span<float> ours)
    {
        if (torch.Length != Weight.Length || ours.Length != Weight.Length) throw new ArgumentException($"Expected {Weight.Length} weights.");
        for (int o = 0; o < OutChannels; o++)
            for (int i = 0; i < InChannels; i++)
                for (int y = 0; y < Kernel; y++)
                    for (int x = 0; x < Kernel; x++) ours[OurIndex(o, i, y, x)] = torch[TorchIndex(o, i, y, x)];
    }

    private int TorchIndex(int o, int i, int y, int x) => ((o * InChannels + i) * Kernel + y) * Kernel + x;

    private int OurIndex(int o, int i, int y, int x) => ((y * Kernel + x) * InChannels + i) * OutChannels + o;

    // x: (B, H, W, C) -> cols: (B·OH·OW, K·K·C), samples [b0, b1). Row (b, oy, ox) holds, for ky = 0..K−1, the
    // K·C contiguous floats x[b, oy+ky, ox..ox+K−1, 0..C−1].
    // Copies run through pointers: conv1's runs are 5 floats, where slicing two spans per run cost more than the copy.
    // Runs of at most 8 floats are copied as one 8-float vector each, in order, so that the 3 floats a vector writes past
    // its run are overwritten by the next run; the range's last run is copied exactly (past it lie other workers' rows).
    internal unsafe void Im2Col(ReadOnlySpan<float> x, Span<float> cols, int b0, int b1)
    {
        int run = Kernel * InChannels, rowStride = InWidth * InChannels;
        if (b0 >= b1) return;
        if (x.Length < b1 * InSize || cols.Length < (long)b1 * OutPixels * Depth) throw new ArgumentException("x or cols is too short for the samples.");
        long bytes = run * sizeof(float);
        bool vectors = run <= 8 && Vector256.IsHardwareAccelerated;
        fixed (float* px = x, pc = cols)
        {
            float* end = pc + (nint)b1 * OutPixels * Depth, inputEnd = px + x.Length;
            for (int b = b0; b < b1; b++)
            {
                float* image = px + (nint)b * InSize;
                float* dst = pc + (nint)b * OutPixels * Depth;
                for (int oy = 0; oy < OutHeight; oy++)
                    for (int ox = 0; ox < OutWidth; ox++, dst += Depth)
                    {
                        float* src = image + oy * rowStride + ox * InChannels;
                        for (int ky = 0; ky < Kernel; ky++)
                        {
                            float* from = src + ky * rowStride, to = dst + ky * run;
                            if (vectors && to + 8 <= end && from + 8 <= inputEnd) Vector256.Store(Vector256.Load(from), to);
                            else Buffer.MemoryCopy(from, to, bytes, bytes);
                        }
                    }
            }
        }
    }

    // dcols: ((b1−b0)·OH·OW, K·K·C), the rows of samples [b0, b1) -> dx: (B, H, W, C) += the scatter of every row back
    // to its inputs. dx must be zero (or hold what to add to) for those samples.
    internal void Col2ImAdd(ReadOnlySpan<float> dcols, Span<float> dx, int b0, int b1)
    {
        int run = Kernel * InChannels, rowStride = InWidth * InChannels;
        for (int b = b0; b < b1; b++)
        {
            Span<float> image = dx.Slice(b * InSize, InSize);
            int row = (b - b0) * OutPixels;
            for (int oy = 0; oy < OutHeight; oy++)
                for (int ox = 0; ox < OutWidth; ox++, row++)
                {
                    ReadOnlySpan<float> src = dcols.Slice(row * Depth, Depth);
                    for (int ky = 0; ky < Kernel; ky++)
                    {
                        Span<float> target = image.Slice((oy + ky) * rowStride + ox * InChannels, run);
                        System.Numerics.Tensors.TensorPrimitives.Add(target, src.Slice(ky * run, run), target);
                    }
                }
        }
    }

    /// <summary>Whether the forward pass runs as Winograd's F(4×4, 5×5) (a 5 × 5 kernel, output sides in multiples of 4, channels in multiples of 8).</summary>
    public bool UsesWinograd => Winograd.Supports(Kernel, OutHeight, OutWidth, InChannels, OutChannels);

    // Per thread: the transformed weights, the transform's scratch and one chunk's tiles (sized on first use, then reused).
    [ThreadStatic] private static float[]? t_winograd;

    // x: (B, H, W, C) -> y: (B, OH, OW, OC) = ReLU(cols·W + b) for samples [b0, b1); cols is scratch of the same rows.
    // (Interleaving im2col and the product 1 MB at a time, as BackwardInput does, measured no faster here.)
    // A stage that UsesWinograd computes y with F(4×4, 5×5) instead (6.25× fewer multiplications; the weights are
    // transformed on every call, since they change every step), and writes cols only if keepColumns (the weight gradient
    // of a stage that does not split it by panels reads them).
    internal void Forward(ParameterStore store, ReadOnlySpan<float> x, Span<float> cols, Span<float> y, int b0, int b1, bool relu = true,
        bool keepColumns = true)
    {
        if (b0 >= b1) return;
        if (UsesWinograd)
        {
            if (keepColumns) Im2Col(x, cols, b0, b1);
            int weights = Winograd.WeightLength(InChannels, OutChannels), transform = Winograd.WeightScratchLength(InChannels, OutChannels);
            int tiles = Math.Min(b1 - b0, Winograd.ChunkSamples(InHeight, InWidth, InChannels, OutChannels))
                * Winograd.ScratchPerSample(InHeight, InWidth, InChannels, OutChannels);
            if (t_winograd is null || t_winograd.Length < weights + transform + tiles) t_winograd = new float[weights + transform + tiles];
            Span<float> scratch = t_winograd, u = scratch[..weights];
            Winograd.TransformWeights(store.Value(Weight), InChannels, OutChannels, u, scratch.Slice(weights, transform));
            Winograd.Forward(x, InHeight, InWidth, InChannels, u, store.Value(Bias), OutChannels, y, b0, b1, relu, scratch[(weights + transform)..]);
            return;
        }
        Im2Col(x, cols, b0, b1);
        int r0 = b0 * OutPixels, rows = (b1 - b0) * OutPixels;
        Gemm.Multiply(cols[(r0 * Depth)..], Depth, store.Value(Weight), OutChannels, store.Value(Bias), y[(r0 * OutChannels)..], OutChannels,
            rows, OutChannels, Depth, relu ? GemmOptions.Relu : GemmOptions.None);
    }

    /// <summary>
    /// Whether the stage's convolution, ReLU and 2 × 2 max pooling run fused, straight from the image
    /// (<see cref="ForwardPooled"/>): one input channel (so each weight row is one pixel), even output sides, channels in
    /// groups of 32.
    /// </summary>
    public bool FusesPooling => InChannels == 1 && OutHeight % 2 == 0 && OutWidth % 2 == 0 && OutChannels % 32 == 0;

    // x: (B, H, W, 1) -> pooled: (B, OH/2, OW/2, OC) = maxpool(ReLU(x ∗ W + b)) for samples [b0, b1), and (unless empty)
    // winners laid out like pooled, as MaxPool2d.Forward records them. No im2col rows and no full-size output: each
    // register tile is two pooling windows (8 output pixels) × 2 vectors of channels, its sums built from the image's
    // pixels in (ky, kx) order starting from the bias — the fma chain of the im2col product, so the same bits —
    // then ReLU and the window maxima straight from the registers.
    internal unsafe void ForwardPooled(ParameterStore store, ReadOnlySpan<float> x, Span<float> pooled, Span<int> winners, int b0, int b1, GemmIsa isa)
    {
        if (!FusesPooling) throw new InvalidOperationException($"A {InChannels}-channel stage with {OutChannels} outputs does not fuse its pooling.");
        if (b0 >= b1) return;
        int pooledSize = OutPixels / 4 * OutChannels;
        if (x.Length < (long)b1 * InSize || pooled.Length < (long)b1 * pooledSize || (!winners.IsEmpty && winners.Length < (long)b1 * pooledSize))
            throw new ArgumentException("x, pooled or winners is too short for the samples.");
        fixed (float* px = x, pw = store.Value(Weight), pb = store.Value(Bias), py = pooled)
        fixed (int* pwin = winners)
        {
            int* win = winners.IsEmpty ? null : pwin;
            switch (isa)
            {
                case GemmIsa.Avx512: ForwardPooled<Simd512, Vector512<float>>(px, pw, pb, py, win, b0, b1); break;
                case GemmIsa.Avx2: ForwardPooled<Simd256, Vector256<float>>(px, pw, pb, py, win, b0, b1); break;
                default: ForwardPooledScalar(px, pw, pb, py, win, b0, b1); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void ForwardPooled<TSimd, TVec>(float* x, float* w, float* bias, float* pooled, int* winners, int b0, int b1)
        where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int v = TSimd.Count, ph = OutHeight / 2, pwidth = OutWidth / 2, oc = OutChannels, k = Kernel, iw = InWidth;
        for (int b = b0; b < b1; b++)
        {
            float* image = x + (nint)b * InSize;
            for (int py = 0; py < ph; py++)
                for (int px = 0; px < pwidth; px += 2)
                {
                    // The second window of the pair (the first again when the row has an odd one out; stored once).
                    int second = Math.Min(px + 1, pwidth - 1);
                    for (int c = 0; c < oc; c += 2 * v)
                    {
                        TVec bias0 = TSimd.Load(bias + c), bias1 = TSimd.Load(bias + c + v);
                        // Pixel q of the tile: window q / 4 (px or second), position q % 4 in it (row-major).
                        TVec a00 = bias0, a01 = bias1, a10 = bias0, a11 = bias1, a20 = bias0, a21 = bias1, a30 = bias0, a31 = bias1;
                        TVec a40 = bias0, a41 = bias1, a50 = bias0, a51 = bias1, a60 = bias0, a61 = bias1, a70 = bias0, a71 = bias1;
                        float* wrow = w + c;
                        for (int ky = 0; ky < k; ky++)
                        {
                            float* p0 = image + (2 * py + ky) * iw + 2 * px, p1 = image + (2 * py + ky) * iw + 2 * second;
                            for (int kx = 0; kx < k; kx++, wrow += oc, p0++, p1++)
                            {
                                TVec w0 = TSimd.Load(wrow), w1 = TSimd.Load(wrow + v);
                                TVec s = TSimd.Broadcast(p0[0]); a00 = TSimd.MultiplyAdd(s, w0, a00); a01 = TSimd.MultiplyAdd(s, w1, a01);
                                s = TSimd.Broadcast(p0[1]); a10 = TSimd.MultiplyAdd(s, w0, a10); a11 = TSimd.MultiplyAdd(s, w1, a11);
                                s = TSimd.Broadcast(p0[iw]); a20 = TSimd.MultiplyAdd(s, w0, a20); a21 = TSimd.MultiplyAdd(s, w1, a21);
                                s = TSimd.Broadcast(p0[iw + 1]); a30 = TSimd.MultiplyAdd(s, w0, a30); a31 = TSimd.MultiplyAdd(s, w1, a31);
                                s = TSimd.Broadcast(p1[0]); a40 = TSimd.MultiplyAdd(s, w0, a40); a41 = TSimd.MultiplyAdd(s, w1, a41);
                                s = TSimd.Broadcast(p1[1]); a50 = TSimd.MultiplyAdd(s, w0, a50); a51 = TSimd.MultiplyAdd(s, w1, a51);
                                s = TSimd.Broadcast(p1[iw]); a60 = TSimd.MultiplyAdd(s, w0, a60); a61 = TSimd.MultiplyAdd(s, w1, a61);
                                s = TSimd.Broadcast(p1[iw + 1]); a70 = TSimd.MultiplyAdd(s, w0, a70); a71 = TSimd.MultiplyAdd(s, w1, a71);
                            }
                        }
                        // ReLU, then each window's maximum and winner (MaxPool2d's rule), straight from the registers.
                        int o = ((b * ph + py) * pwidth + px) * oc + c;
                        PoolWindow<TSimd, TVec>(a00, a10, a20, a30, pooled + o, winners == null ? null : winners + o);
                        PoolWindow<TSimd, TVec>(a01, a11, a21, a31, pooled + o + v, winners == null ? null : winners + o + v);
                        if (second == px) continue;
                        o += oc;
                        PoolWindow<TSimd, TVec>(a40, a50, a60, a70, pooled + o, winners == null ? null : winners + o);
                        PoolWindow<TSimd, TVec>(a41, a51, a61, a71, pooled + o + v, winners == null ? null : winners + o + v);
                    }
                }
        }
    }

    // One window's 4 pre-activations (row-major) of one vector of channels -> max(ReLU) into pooled and, unless winners is
    // null, the first k whose ReLU equals the maximum where it is above 0 (else NoWinner). Above 0, ReLU(x) = m exactly
    // when x = m, so the raw sums serve.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PoolWindow<TSimd, TVec>(TVec x0, TVec x1, TVec x2, TVec x3, float* pooled, int* winners)
        where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        TVec m = TSimd.Relu(TSimd.Max(TSimd.Max(x0, x1), TSimd.Max(x2, x3)));
        TSimd.Store(pooled, m);
        if (winners != null) TSimd.StoreWinners(x0, x1, x2, x3, m, winners);
    }

    // The reference for processors without AVX2: the same sums, one float at a time.
    private unsafe void ForwardPooledScalar(float* x, float* w, float* bias, float* pooled, int* winners, int b0, int b1)
    {
        int ph = OutHeight / 2, pwidth = OutWidth / 2, oc = OutChannels, k = Kernel;
        Span<float> window = stackalloc float[4];
        for (int b = b0; b < b1; b++)
        {
            float* image = x + (nint)b * InSize;
            for (int py = 0; py < ph; py++)
                for (int px = 0; px < pwidth; px++)
                    for (int c = 0; c < oc; c++)
                    {
                        for (int q = 0; q < 4; q++)
                        {
                            float* top = image + (2 * py + q / 2) * InWidth + 2 * px + q % 2;
                            float acc = bias[c];
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++) acc = MathF.FusedMultiplyAdd(top[ky * InWidth + kx], w[(ky * k + kx) * oc + c], acc);
                            window[q] = MathF.Max(acc, 0f);
                        }
                        float m = MathF.Max(MathF.Max(window[0], window[1]), MathF.Max(window[2], window[3]));
                        int o = ((b * ph + py) * pwidth + px) * oc + c;
                        pooled[o] = m;
                        if (winners != null)
                            winners[o] = !(m > 0) ? MaxPool2d.NoWinner : window[0] == m ? 0 : window[1] == m ? 1 : window[2] == m ? 2 : window[3] == m ? 3 : MaxPool2d.NoWinner;
                    }
        }
    }

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

    // For a stage followed by ReLU and 2 × 2 max pooling whose only input gradient comes through the pooling (the first
    // stage: no dx): dW and db straight from the pooled gradient (B, OH/2, OW/2, OC) and the pooling's winners, without
    // the dense output gradient (whose writing, indexing and reading cost more than the product). Each worker its share
    // of the channels over the whole batch; per channel the winners are visited in ascending pixel order (pooled rows,
    // then the window row, then pooled columns), so each dW element is the dense product's fma chain without its zero
    // terms, and db the dense column sum's four interleaved chains (Activations.ColumnSums): the same bits as
    // BackwardWeights on the dense gradient. Returns the dW rows this worker hands to the update, as BackwardWeights.
    // The winning pixels' inputs are read from the stage's input x (B, H, W, C) itself: K runs of K·C floats each.
    internal unsafe (int Start, int End) BackwardWeightsFromWinners(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<float> pooledGradient,
        ReadOnlySpan<int> winners, Span<float> scratch, int batch, WorkerPool pool, int worker)
    {
        int ph = OutHeight / 2, pw = OutWidth / 2, pooledSize = ph * pw * OutChannels;
        if (x.Length < (long)batch * InSize || pooledGradient.Length < (long)batch * pooledSize || winners.Length < (long)batch * pooledSize
            || scratch.Length < OutChannels * Depth)
            throw new ArgumentException("x, pooledGradient, winners or scratch is too short for the batch.");
        var (c0, c1) = BiasShare(worker, pool.Count);
        int width = c1 - c0;
        scratch.Slice(c0 * Depth, width * Depth).Clear();
        float* chains = stackalloc float[4 * Math.Max(width, 1)];
        new Span<float>(chains, 4 * Math.Max(width, 1)).Clear();
        // Each channel's dWᵀ row accumulates with every kernel row in whole 8-lane vectors of its own (conv1: 5 rows of
        // 8 lanes for 5 floats each), read straight from the image: no masked updates (which could not forward to the
        // next update's loads) and no copies of the winner's inputs (a vector load of a copy that smaller stores have
        // just written waits for them to retire).
        int run = Kernel * InChannels, rowStride = InWidth * InChannels, lanes = (run + 7) / 8 * 8, padded = Kernel * lanes;
        float* rows = stackalloc float[Math.Max(width, 1) * padded];
        new Span<float>(rows, Math.Max(width, 1) * padded).Clear();
        fixed (float* pinput = x, pscratch = scratch, pgrad = pooledGradient)
        fixed (int* pwin = winners)
        {
            float* inputEnd = pinput + x.Length;
            for (int b = 0; b < batch; b++)
                for (int py = 0; py < ph; py++)
                    for (int half = 0; half < 2; half++)
                    {
                        var inHalf = Vector256.Create(half);
                        for (int px = 0; px < pw; px++)
                        {
                            int o = ((b * ph + py) * pw + px) * OutChannels, p0 = (b * OutHeight + 2 * py + half) * OutWidth + 2 * px, c = c0;
                            // The window row's first pixel's inputs: x[b, 2py + half + ky, 2px + kx, ..].
                            float* origin = pinput + (nint)b * InSize + ((2 * py + half) * InWidth + 2 * px) * InChannels;
                            // 8 channels at a time: the lanes whose winner sits in this window row (NoWinner never does)
                            // and whose gradient is not 0, then those lanes in order.
                            for (; c < c1; c += 8)
                            {
                                uint bits;
                                if (c + 8 <= c1)
                                {
                                    var k = Vector256.Load(pwin + o + c);
                                    var live = Vector256.Equals(Vector256.ShiftRightLogical(k, 1), inHalf)
                                        & ~Vector256.Equals(Vector256.Load(pgrad + o + c), Vector256<float>.Zero).AsInt32();
                                    bits = live.ExtractMostSignificantBits();
                                }
                                else
                                {
                                    bits = 0;
                                    for (int l = 0; c + l < c1; l++)
                                        if (pwin[o + c + l] >> 1 == half && pgrad[o + c + l] != 0) bits |= 1u << l;
                                }
                                for (; bits != 0; bits &= bits - 1)
                                {
                                    int cc = c + System.Numerics.BitOperations.TrailingZeroCount(bits), right = pwin[o + cc] & 1;
                                    chains[((p0 + right) & 3) * width + cc - c0] += pgrad[o + cc];
                                    AddWinner(origin + right * InChannels, rowStride, run, lanes, inputEnd, rows + (nint)(cc - c0) * padded, pgrad[o + cc]);
                                }
                            }
                        }
                    }
            for (int i = 0; i < width; i++)
                for (int ky = 0; ky < Kernel; ky++)
                    new ReadOnlySpan<float>(rows + (nint)i * padded + ky * lanes, run).CopyTo(new Span<float>(pscratch + (nint)(c0 + i) * Depth + ky * run, run));
        }
        Span<float> db = store.Gradient(Bias);
        for (int c = c0; c < c1; c++)
        {
            int i = c - c0;
            db[c] = (chains[i] + chains[width + i]) + (chains[2 * width + i] + chains[3 * width + i]);
        }
        pool.Barrier();
        if (worker != 0) return (0, 0);
        Gemm.Transpose(scratch, Depth, store.Gradient(Weight), OutChannels, OutChannels, Depth);
        return (0, Depth);
    }

    // One winner: kernel row ky of its channel's row (`lanes` floats at row + lanes·ky) += g · its inputs' run ky, 8 floats
    // at a time (the lanes past the run collect products that are never read); an fma per element, as the product.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void AddWinner(float* source, int rowStride, int run, int lanes, float* inputEnd, float* row, float g)
    {
        var s = Vector256.Create(g);
        for (int ky = 0; ky < Kernel; ky++, source += rowStride, row += lanes)
            for (int j = 0; j < run; j += 8)
            {
                if (source + j + 8 <= inputEnd)
                {
                    Vector256.FusedMultiplyAdd(s, Vector256.Load(source + j), Vector256.Load(row + j)).Store(row + j);
                    continue;
                }
                // The last pixels of the buffer: only the run's own floats, one at a time.
                for (int l = j; l < Math.Min(run, j + 8); l++) row[l] = MathF.FusedMultiplyAdd(g, source[l], row[l]);
            }
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

    // offsets[(b·OH + oy)·OW + ox] = where pixel (b, oy, ox)'s inputs start in x: b·H·W·C + (oy·W + ox)·C.
    internal void RowOffsets(Span<int> offsets, int batch)
    {
        if (offsets.Length < (long)batch * OutPixels) throw new ArgumentException("offsets is too short for the batch.", nameof(offsets));
        for (int b = 0, r = 0; b < batch; b++)
            for (int oy = 0; oy < OutHeight; oy++)
                for (int ox = 0; ox < OutWidth; ox++, r++) offsets[r] = checked(b * InSize + (oy * InWidth + ox) * InChannels);
    }

    /// <summary>The bias channels worker <paramref name="worker"/> sums and updates (whole groups of 8).</summary>
    internal (int Start, int End) BiasShare(int worker, int workers) => Partition.Share(OutChannels, 8, worker, workers);

}

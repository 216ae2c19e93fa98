using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>
/// Winograd's minimal filtering F(4×4, 5×5) for a valid, stride-1 5 × 5 convolution over channels-last images:
/// each 4 × 4 block of output pixels comes from the 8 × 8 input tile under it as
/// <c>y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A</c>, so a tile costs 64 multiplications per (input, output) channel pair
/// instead of 16 · 25 = 400. Summed over the input channels, the 64 element-wise products become 64 independent
/// products (tiles × C) · (C × OC) on our GEMM kernel: 6.25 × fewer FLOPs than im2col's, plus the transforms.
/// Interpolation points 0, ±1, ±2, ±1/2 and ∞; the matrices were derived with exact fractions and checked on the
/// 1-D correlation (the derivation is in the tests: the transforms are compared with the naive convolution).
/// </summary>
internal static unsafe class Winograd
{
    /// <summary>Output pixels per tile side.</summary>
    public const int OutTile = 4;

    /// <summary>Input pixels per tile side (OutTile + 5 − 1).</summary>
    public const int InTile = 8;

    /// <summary>Transform positions per tile (InTile²): the number of products.</summary>
    public const int Positions = InTile * InTile;

    private const int Lanes = 8; // the channel loops need C and OC to be multiples of 8 (16 for Vector512)

    // G (8 × 5): the filter transform.
    private static readonly float[] G =
    [
        -1f, 0f, 0f, 0f, 0f,
        -2f / 9, -2f / 9, -2f / 9, -2f / 9, -2f / 9,
        -2f / 9, 2f / 9, -2f / 9, 2f / 9, -2f / 9,
        1f / 90, 1f / 45, 2f / 45, 4f / 45, 8f / 45,
        1f / 90, -1f / 45, 2f / 45, -4f / 45, 8f / 45,
        32f / 45, 16f / 45, 8f / 45, 4f / 45, 2f / 45,
        32f / 45, -16f / 45, 8f / 45, -4f / 45, 2f / 45,
        0f, 0f, 0f, 0f, 1f,
    ];

    /// <summary>Whether a convolution of this shape runs through <see cref="Forward"/>: a 5 × 5 kernel, output sides in whole tiles, channels in whole vectors.</summary>
    public static bool Supports(int kernel, int outHeight, int outWidth, int inChannels, int outChannels) =>
        kernel == 5 && outHeight > 0 && outWidth > 0 && outHeight % OutTile == 0 && outWidth % OutTile == 0
        && inChannels % Lanes == 0 && outChannels % Lanes == 0;

    /// <summary>Floats of the transformed weights: 64 · C · OC.</summary>
    public static int WeightLength(int inChannels, int outChannels) => Positions * inChannels * outChannels;

    /// <summary>Floats of scratch per sample: its tiles' transformed inputs and products, 64 · tiles · (C + OC).</summary>
    public static int ScratchPerSample(int height, int width, int inChannels, int outChannels) =>
        Positions * TilesPerSample(height, width) * (inChannels + outChannels);

    private static int TilesPerSample(int height, int width) => (height - 4) / OutTile * ((width - 4) / OutTile);

    /// <summary>Floats of the scratch <see cref="TransformWeights"/> needs: 40 · C · OC.</summary>
    public static int WeightScratchLength(int inChannels, int outChannels) => InTile * 5 * inChannels * outChannels;

    /// <summary>Samples <see cref="Forward"/> transforms at a time: their inputs and products fill ~512 KB, so they stay in this core's L2.</summary>
    public static int ChunkSamples(int height, int width, int inChannels, int outChannels) =>
        Math.Max(1, (512 << 10) / sizeof(float) / ScratchPerSample(height, width, inChannels, outChannels));

    // w: (25·C, OC), rows in (ky, kx, c) order -> u: (64, C, OC), u[8a + b] = Σ_ky Σ_kx G[a, ky] · G[b, kx] · w[ky, kx].
    // Each (ky, kx) block of C·OC floats is one span, so the transform is a few hundred span-wide multiply-adds.
    // scratch: (8, 5, C·OC) = Σ_ky G[a, ky] · w[ky, kx].
    public static void TransformWeights(ReadOnlySpan<float> w, int inChannels, int outChannels, Span<float> u, Span<float> scratch)
    {
        int block = inChannels * outChannels;
        ArgumentOutOfRangeException.ThrowIfLessThan(block, 1);
        if (w.Length < 25 * block) throw new ArgumentException($"w needs {25 * block} floats.", nameof(w));
        if (u.Length < Positions * block) throw new ArgumentException($"u needs {Positions * block} floats.", nameof(u));
        if (scratch.Length < InTile * 5 * block) throw new ArgumentException($"scratch needs {InTile * 5 * block} floats.", nameof(scratch));
        for (int a = 0; a < InTile; a++)
            for (int kx = 0; kx < 5; kx++)
                Combine(w, kx * block, 5 * block, a, block, scratch.Slice((a * 5 + kx) * block, block));
        for (int a = 0; a < InTile; a++)
            for (int b = 0; b < InTile; b++)
                Combine(scratch, a * 5 * block, block, b, block, u.Slice((a * InTile + b) * block, block));
    }

    // target = Σ_k G[row, k] · source[start + k·step ..], skipping G's zeros.
    private static void Combine(ReadOnlySpan<float> source, int start, int step, int row, int block, Span<float> target)
    {
        bool first = true;
        for (int k = 0; k < 5; k++)
        {
            float g = G[row * 5 + k];
            if (g == 0) continue;
            if (first) TensorPrimitives.Multiply(source.Slice(start + k * step, block), g, target);
            else TensorPrimitives.MultiplyAdd(source.Slice(start + k * step, block), g, target, target);
            first = false;
        }
    }

    // x: (B, H, W, C) -> y: (B, H−4, W−4, OC) = x ∗ w + b (then ReLU if asked) for samples [b0, b1), with u = the
    // TransformWeights of w. A chunk of samples at a time (ChunkSamples), through scratch:
    //   v: (64, T, C) = Bᵀ d B of each tile d, m: (64, T, OC) = v[p] · u[p] for each position p, y = Aᵀ m A + b.
    // Every tile's result depends on its own input only, so any split of the batch gives the same bits. With a channel
    // range [o0, o1) (multiples of 8), only those output channels: each element the same chain, so a split of one
    // image's channels between workers gives the same bits too.
    public static void Forward(ReadOnlySpan<float> x, int height, int width, int inChannels, ReadOnlySpan<float> u, ReadOnlySpan<float> bias,
        int outChannels, Span<float> y, int b0, int b1, bool relu, Span<float> scratch, int o0 = 0, int o1 = -1)
    {
        if (o1 < 0) o1 = outChannels;
        if (o0 < 0 || o1 > outChannels || o0 > o1 || o0 % 8 != 0 || o1 % 8 != 0)
            throw new ArgumentOutOfRangeException(nameof(o1), $"output channels [{o0}, {o1}) of {outChannels}, expected multiples of 8");
        int outHeight = height - 4, outWidth = width - 4;
        if (!Supports(5, outHeight, outWidth, inChannels, outChannels))
            throw new ArgumentException($"F(4x4, 5x5) needs output sides in multiples of 4 and channels in multiples of 8 (got {outHeight}x{outWidth}, {inChannels} -> {outChannels}).");
        if (b0 >= b1 || o0 == o1) return;
        ArgumentOutOfRangeException.ThrowIfNegative(b0);
        int inSize = height * width * inChannels, outSize = outHeight * outWidth * outChannels;
        if (x.Length < (long)b1 * inSize) throw new ArgumentException("x is too short for the samples.", nameof(x));
        if (y.Length < (long)b1 * outSize) throw new ArgumentException("y is too short for the samples.", nameof(y));
        if (u.Length < WeightLength(inChannels, outChannels)) throw new ArgumentException("u is too short.", nameof(u));
        if (bias.Length < outChannels) throw new ArgumentException("bias is too short.", nameof(bias));
        int chunk = Math.Min(b1 - b0, ChunkSamples(height, width, inChannels, outChannels));
        int perSample = ScratchPerSample(height, width, inChannels, outChannels);
        if (scratch.Length < (long)chunk * perSample) throw new ArgumentException($"scratch needs {chunk * perSample} floats.", nameof(scratch));
        int tilesPerSample = TilesPerSample(height, width);
        for (int s0 = b0; s0 < b1; s0 += chunk)
        {
            int s1 = Math.Min(b1, s0 + chunk), tiles = (s1 - s0) * tilesPerSample;
            Span<float> v = scratch[..(Positions * tiles * inChannels)];
            Span<float> m = scratch.Slice(Positions * tiles * inChannels, Positions * tiles * outChannels);
            TransformInput(x, height, width, inChannels, s0, s1, v);
            // One product per position p: m[p] (T, OC) = v[p] (T, C) · u[p] (C, OC), channels [o0, o1).
            Gemm.MultiplyStrided(new GemmProduct(v, inChannels, u[o0..], outChannels, m[o0..], outChannels, tiles, o1 - o0, inChannels),
                Positions, tiles * inChannels, inChannels * outChannels, tiles * outChannels);
            TransformOutput(m, bias, outHeight, outWidth, outChannels, s0, s1, relu, y, o0, o1);
        }
    }

    // x: (B, H, W, C), samples [s0, s1) -> v: (64, T, C), v[p, t] = (Bᵀ d B)[p] for tile t = ((b − s0)·TY + ty)·TX + tx,
    // d = x[b, 4ty .. 4ty+7, 4tx .. 4tx+7]. A vector of channels at a time: Bᵀ down each of the tile's 8 columns into tmp,
    // then along each of tmp's 8 rows into v. (Element-wise arithmetic only, so any vector width gives the same bits.)
    private static void TransformInput(ReadOnlySpan<float> x, int height, int width, int channels, int s0, int s1, Span<float> v)
    {
        if (Vector512.IsHardwareAccelerated && channels % 16 == 0) TransformInput<Simd512, Vector512<float>>(x, height, width, channels, s0, s1, v);
        else TransformInput<Simd256, Vector256<float>>(x, height, width, channels, s0, s1, v);
    }

    [MethodImpl(KernelCompilation.Options)]
    private static void TransformInput<TSimd, TVec>(ReadOnlySpan<float> x, int height, int width, int channels, int s0, int s1, Span<float> v)
        where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int lanes = TSimd.Count, tilesY = (height - 4) / OutTile, tilesX = (width - 4) / OutTile, tiles = (s1 - s0) * tilesY * tilesX;
        int rowStride = width * channels, position = tiles * channels;
        float* tmp = stackalloc float[Positions * 16];
        fixed (float* px = x, pv = v)
        {
            for (int b = s0, t = 0; b < s1; b++)
                for (int ty = 0; ty < tilesY; ty++)
                    for (int tx = 0; tx < tilesX; tx++, t++)
                    {
                        float* origin = px + (nint)b * height * rowStride + ty * OutTile * rowStride + tx * OutTile * channels;
                        for (int c = 0; c < channels; c += lanes)
                        {
                            for (int j = 0; j < InTile; j++) InputTransform<TSimd, TVec>(origin + j * channels + c, rowStride, tmp + j * lanes, InTile * lanes);
                            for (int i = 0; i < InTile; i++)
                                InputTransform<TSimd, TVec>(tmp + i * InTile * lanes, lanes, pv + (nint)i * InTile * position + t * channels + c, position);
                        }
                    }
        }
    }

    // m: (64, T, OC) -> y[b, 4ty + i, 4tx + j] = (Aᵀ m A)[i, j] + b (ReLU if asked), for samples [s0, s1).
    private static void TransformOutput(ReadOnlySpan<float> m, ReadOnlySpan<float> bias, int outHeight, int outWidth, int channels, int s0, int s1,
        bool relu, Span<float> y, int c0, int c1)
    {
        if (Vector512.IsHardwareAccelerated && c0 % 16 == 0 && c1 % 16 == 0)
            TransformOutput<Simd512, Vector512<float>>(m, bias, outHeight, outWidth, channels, s0, s1, relu, y, c0, c1);
        else TransformOutput<Simd256, Vector256<float>>(m, bias, outHeight, outWidth, channels, s0, s1, relu, y, c0, c1);
    }

    [MethodImpl(KernelCompilation.Options)]
    private static void TransformOutput<TSimd, TVec>(ReadOnlySpan<float> m, ReadOnlySpan<float> bias, int outHeight, int outWidth, int channels, int s0, int s1,
        bool relu, Span<float> y, int c0, int c1) where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int lanes = TSimd.Count, tilesY = outHeight / OutTile, tilesX = outWidth / OutTile, tiles = (s1 - s0) * tilesY * tilesX;
        int rowStride = outWidth * channels, position = tiles * channels;
        float* tmp = stackalloc float[OutTile * InTile * 16];
        float* row = stackalloc float[OutTile * 16];
        fixed (float* pm = m, py = y, pb = bias)
        {
            for (int b = s0, t = 0; b < s1; b++)
                for (int ty = 0; ty < tilesY; ty++)
                    for (int tx = 0; tx < tilesX; tx++, t++)
                    {
                        float* origin = py + (nint)b * outHeight * rowStride + ty * OutTile * rowStride + tx * OutTile * channels;
                        for (int c = c0; c < c1; c += lanes)
                        {
                            TVec shift = TSimd.Load(pb + c);
                            // Aᵀ down each of the 8 columns (positions j, 8 + j, ..., 56 + j) into tmp (4, 8).
                            for (int j = 0; j < InTile; j++)
                                OutputTransform<TSimd, TVec>(pm + (nint)j * position + t * channels + c, InTile * position, tmp + j * lanes, InTile * lanes);
                            // Then along each of tmp's 4 rows: output row i of the tile.
                            for (int i = 0; i < OutTile; i++)
                            {
                                OutputTransform<TSimd, TVec>(tmp + i * InTile * lanes, lanes, row, lanes);
                                for (int j = 0; j < OutTile; j++)
                                {
                                    TVec value = TSimd.Add(TSimd.Load(row + j * lanes), shift);
                                    if (relu) value = TSimd.Relu(value);
                                    TSimd.Store(origin + i * rowStride + j * channels + c, value);
                                }
                            }
                        }
                    }
        }
    }

    // Bᵀ (8 × 8) times 8 vectors d[k] = src[k·stride], into dst[k·dstStride]: the F(6,3)-like pairing of rows.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InputTransform<TSimd, TVec>(float* src, int stride, float* dst, int dstStride) where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        TVec d0 = TSimd.Load(src), d1 = TSimd.Load(src + stride), d2 = TSimd.Load(src + 2 * stride), d3 = TSimd.Load(src + 3 * stride);
        TVec d4 = TSimd.Load(src + 4 * stride), d5 = TSimd.Load(src + 5 * stride), d6 = TSimd.Load(src + 6 * stride), d7 = TSimd.Load(src + 7 * stride);
        TSimd.Store(dst, TSimd.Add(TSimd.Subtract(d6, d0), TSimd.Multiply(TSimd.Broadcast(5.25f), TSimd.Subtract(d2, d4))));
        TVec p = TSimd.Subtract(TSimd.Add(d2, d6), TSimd.Multiply(TSimd.Broadcast(4.25f), d4));
        TVec q = TSimd.Subtract(TSimd.Add(d1, d5), TSimd.Multiply(TSimd.Broadcast(4.25f), d3));
        TSimd.Store(dst + dstStride, TSimd.Add(p, q));
        TSimd.Store(dst + 2 * dstStride, TSimd.Subtract(p, q));
        p = TSimd.Add(TSimd.Subtract(TSimd.Multiply(TSimd.Broadcast(0.25f), d2), TSimd.Multiply(TSimd.Broadcast(1.25f), d4)), d6);
        q = TSimd.Add(TSimd.Subtract(TSimd.Multiply(TSimd.Broadcast(0.5f), d1), TSimd.Multiply(TSimd.Broadcast(2.5f), d3)), TSimd.Multiply(TSimd.Broadcast(2f), d5));
        TSimd.Store(dst + 3 * dstStride, TSimd.Add(p, q));
        TSimd.Store(dst + 4 * dstStride, TSimd.Subtract(p, q));
        p = TSimd.Add(TSimd.Subtract(TSimd.Multiply(TSimd.Broadcast(4f), d2), TSimd.Multiply(TSimd.Broadcast(5f), d4)), d6);
        q = TSimd.Add(TSimd.Subtract(TSimd.Multiply(TSimd.Broadcast(2f), d1), TSimd.Multiply(TSimd.Broadcast(2.5f), d3)), TSimd.Multiply(TSimd.Broadcast(0.5f), d5));
        TSimd.Store(dst + 5 * dstStride, TSimd.Add(p, q));
        TSimd.Store(dst + 6 * dstStride, TSimd.Subtract(p, q));
        TSimd.Store(dst + 7 * dstStride, TSimd.Add(TSimd.Subtract(d7, d1), TSimd.Multiply(TSimd.Broadcast(5.25f), TSimd.Subtract(d3, d5))));
    }

    // Aᵀ (4 × 8) times 8 vectors m[k] = src[k·stride], into dst[k·dstStride].
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OutputTransform<TSimd, TVec>(float* src, int stride, float* dst, int dstStride) where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        TVec m0 = TSimd.Load(src), m1 = TSimd.Load(src + stride), m2 = TSimd.Load(src + 2 * stride), m3 = TSimd.Load(src + 3 * stride);
        TVec m4 = TSimd.Load(src + 4 * stride), m5 = TSimd.Load(src + 5 * stride), m6 = TSimd.Load(src + 6 * stride), m7 = TSimd.Load(src + 7 * stride);
        TVec s1 = TSimd.Add(m1, m2), t1 = TSimd.Subtract(m1, m2), s2 = TSimd.Add(m3, m4), t2 = TSimd.Subtract(m3, m4);
        TVec s3 = TSimd.Add(m5, m6), t3 = TSimd.Subtract(m5, m6);
        TSimd.Store(dst, TSimd.Add(TSimd.Add(TSimd.Add(m0, s1), s2), s3));
        TSimd.Store(dst + dstStride, TSimd.Add(TSimd.Add(t1, TSimd.Multiply(TSimd.Broadcast(2f), t2)), TSimd.Multiply(TSimd.Broadcast(0.5f), t3)));
        TSimd.Store(dst + 2 * dstStride, TSimd.Add(TSimd.Add(s1, TSimd.Multiply(TSimd.Broadcast(4f), s2)), TSimd.Multiply(TSimd.Broadcast(0.25f), s3)));
        TSimd.Store(dst + 3 * dstStride,
            TSimd.Add(TSimd.Add(TSimd.Add(t1, TSimd.Multiply(TSimd.Broadcast(8f), t2)), TSimd.Multiply(TSimd.Broadcast(0.125f), t3)), m7));
    }
}

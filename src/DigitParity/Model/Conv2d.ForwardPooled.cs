using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DigitParity.Engine;

namespace DigitParity.Model;

// The first stage's forward pass fused with its ReLU and 2 × 2 max pooling, in registers.
internal sealed partial class Conv2d
{
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
    // With a pooled row range [py0, py1), only those rows of each sample (one image split between workers).
    internal unsafe void ForwardPooled(ParameterStore store, ReadOnlySpan<float> x, Span<float> pooled, Span<int> winners, int b0, int b1, GemmIsa isa,
        int py0 = 0, int py1 = -1)
    {
        if (py1 < 0) py1 = OutHeight / 2;
        if (py0 < 0 || py1 > OutHeight / 2 || py0 > py1) throw new ArgumentOutOfRangeException(nameof(py1), $"pooled rows [{py0}, {py1}) of {OutHeight / 2}");
        if (!FusesPooling) throw new InvalidOperationException($"A {InChannels}-channel stage with {OutChannels} outputs does not fuse its pooling.");
        if (b0 >= b1) return;
        int pooledSize = OutPixels / 4 * OutChannels;
        if (x.Length < (long)b1 * InSize || pooled.Length < (long)b1 * pooledSize || (!winners.IsEmpty && winners.Length < (long)b1 * pooledSize))
            throw new ArgumentException("x, pooled or winners is too short for the samples.");
        fixed (float* px = x, pw = store.Read(Weight), pb = store.Read(Bias), py = pooled)
        fixed (int* pwin = winners)
        {
            int* win = winners.IsEmpty ? null : pwin;
            switch (isa)
            {
                case GemmIsa.Avx512: ForwardPooled<Simd512, Vector512<float>, FullWidth>(px, pw, pb, py, win, b0, b1, py0, py1); break;
                // 16 vector registers: a tile of one window (8 accumulators), as 16 would spill.
                case GemmIsa.Avx2: ForwardPooled<Simd256, Vector256<float>, HalfWidth>(px, pw, pb, py, win, b0, b1, py0, py1); break;
                default: ForwardPooledScalar(px, pw, pb, py, win, b0, b1, py0, py1); break;
            }
        }
    }

    // TW.Half: a tile of one window (4 output pixels) instead of two.
    [MethodImpl(KernelCompilation.Options)]
    private unsafe void ForwardPooled<TSimd, TVec, TW>(float* x, float* w, float* bias, float* pooled, int* winners, int b0, int b1, int py0, int py1)
        where TSimd : struct, ISimd<TVec> where TVec : struct where TW : struct, ITileWidth
    {
        int v = TSimd.Count, ph = OutHeight / 2, pwidth = OutWidth / 2, oc = OutChannels, k = Kernel, iw = InWidth;
        bool pair = !TW.Half;
        // Per input row, its non-zero pixels as bits (ActiveDepth's row masks; no skipping in rows wider than 64): a tile
        // skips each (ky, kx) step whose 2 × 4 pixels (2 × 2 for one window) are all 0, steps that add ±0 to every sum and
        // so change at most the sign of a zero, which the ReLU makes +0. Most of an MNIST digit's pixels are 0.
        int words = ActiveDepth.MaskWords(iw);
        bool masked = iw <= 64;
        ulong* nonZero = stackalloc ulong[InHeight * words];
        ulong steps = pair ? 0xFul : 0x3ul;
        for (int b = b0; b < b1; b++)
        {
            float* image = x + (nint)b * InSize;
            if (masked) ActiveDepth.NonZeroMasks(new ReadOnlySpan<float>(image, InSize), iw, iw, 2 * py0, Math.Min(InHeight, 2 * py1 + k),
                new Span<ulong>(nonZero, InHeight * words));
            for (int py = py0; py < py1; py++)
                for (int px = 0; px < pwidth; px += pair ? 2 : 1)
                {
                    // The second window of the pair (the first again when the row has an odd one out; stored once).
                    int second = pair ? Math.Min(px + 1, pwidth - 1) : px;
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
                            // Bit kx: a pixel of step kx is non-zero (columns 2px + kx .. 2px + kx + 3 of both rows).
                            ulong live = masked ? (nonZero[(2 * py + ky) * words] | nonZero[(2 * py + ky + 1) * words]) >> (2 * px) : ulong.MaxValue;
                            for (int kx = 0; kx < k; kx++, wrow += oc, p0++, p1++)
                            {
                                if ((live >> kx & steps) == 0) continue;
                                TVec w0 = TSimd.Load(wrow), w1 = TSimd.Load(wrow + v);
                                TVec s = TSimd.Broadcast(p0[0]); a00 = TSimd.MultiplyAdd(s, w0, a00); a01 = TSimd.MultiplyAdd(s, w1, a01);
                                s = TSimd.Broadcast(p0[1]); a10 = TSimd.MultiplyAdd(s, w0, a10); a11 = TSimd.MultiplyAdd(s, w1, a11);
                                s = TSimd.Broadcast(p0[iw]); a20 = TSimd.MultiplyAdd(s, w0, a20); a21 = TSimd.MultiplyAdd(s, w1, a21);
                                s = TSimd.Broadcast(p0[iw + 1]); a30 = TSimd.MultiplyAdd(s, w0, a30); a31 = TSimd.MultiplyAdd(s, w1, a31);
                                if (!pair) continue;
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
    private unsafe void ForwardPooledScalar(float* x, float* w, float* bias, float* pooled, int* winners, int b0, int b1, int py0, int py1)
    {
        int ph = OutHeight / 2, pwidth = OutWidth / 2, oc = OutChannels, k = Kernel;
        Span<float> window = stackalloc float[4];
        for (int b = b0; b < b1; b++)
        {
            float* image = x + (nint)b * InSize;
            for (int py = py0; py < py1; py++)
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
}

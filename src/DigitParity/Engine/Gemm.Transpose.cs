using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DigitParity.Engine;

internal static unsafe partial class Gemm
{
    // d[c, r] = s[r, c] for an 8 × 8 block: pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* s, nint lds, float* d, nint ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(s), r1 = Avx.LoadVector256(s + lds), r2 = Avx.LoadVector256(s + 2 * lds),
            r3 = Avx.LoadVector256(s + 3 * lds), r4 = Avx.LoadVector256(s + 4 * lds), r5 = Avx.LoadVector256(s + 5 * lds),
            r6 = Avx.LoadVector256(s + 6 * lds), r7 = Avx.LoadVector256(s + 7 * lds);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE),
            u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>dst (cols × rows) = srcᵀ, for src rows × cols with row stride <paramref name="lds"/>.</summary>
    public static void Transpose(ReadOnlySpan<float> src, int lds, Span<float> dst, int ldd, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (rows == 0 || cols == 0) return;
        ArgumentOutOfRangeException.ThrowIfLessThan(lds, cols);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldd, rows);
        if (src.Length < (long)(rows - 1) * lds + cols) throw new ArgumentException("Source too short.", nameof(src));
        if (dst.Length < (long)(cols - 1) * ldd + rows) throw new ArgumentException("Destination too short.", nameof(dst));
        fixed (float* s = src, d = dst)
        {
            // 8 source rows at a time: each destination row receives 8 contiguous floats per pass, as 8 × 8 blocks
            // transposed in registers where AVX is there (each worker transposes fc2's weights every step).
            int r = 0;
            for (; r + 8 <= rows; r += 8)
            {
                float* s0 = s + r * lds;
                int c = 0;
                if (Avx.IsSupported)
                    for (; c + 8 <= cols; c += 8) Transpose8x8(s0 + c, lds, d + c * ldd + r, ldd);
                for (; c < cols; c++)
                {
                    float* t = d + c * ldd + r;
                    t[0] = s0[c]; t[1] = s0[lds + c]; t[2] = s0[2 * lds + c]; t[3] = s0[3 * lds + c];
                    t[4] = s0[4 * lds + c]; t[5] = s0[5 * lds + c]; t[6] = s0[6 * lds + c]; t[7] = s0[7 * lds + c];
                }
            }
            for (; r < rows; r++)
                for (int c = 0; c < cols; c++) d[c * ldd + r] = s[r * lds + c];
        }
    }
}

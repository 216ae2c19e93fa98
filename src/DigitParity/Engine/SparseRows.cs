using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>
/// A product whose A rows are mostly zeros, each with its own list of non-zero columns:
/// <c>C (m × n) = A (m × k) · B (k × n)</c>, element by element <c>acc = 0; for p in row i's list (ascending):
/// acc = fma(A[i, p], B[p, j], acc)</c> — the same bits as <see cref="Gemm"/>'s product over the whole depth (the
/// skipped terms add 0). Unlike Gemm's 5-row tiles, which skip a depth step only when all five rows are 0 there, each
/// row skips its own zeros: what the gradient after max pooling needs, where each pixel has its own few channels.
/// </summary>
internal static unsafe class SparseRows
{
    /// <summary>
    /// For rows [<paramref name="firstRow"/>, <paramref name="endRow"/>): the set bits of each row's mask
    /// (<see cref="ActiveDepth.NonZeroMasks"/>, <paramref name="words"/> words a row) as ascending column indices,
    /// into <c>lists[row · stride ..]</c>, with the count in counts[row].
    /// </summary>
    public static void List(ReadOnlySpan<ulong> masks, int words, int firstRow, int endRow, Span<int> lists, int stride, Span<int> counts)
    {
        for (int r = firstRow; r < endRow; r++)
        {
            int count = 0;
            Span<int> list = lists.Slice(r * stride, stride);
            for (int w = 0; w < words; w++)
                for (ulong bits = masks[r * words + w]; bits != 0; bits &= bits - 1) list[count++] = w * 64 + BitOperations.TrailingZeroCount(bits);
            counts[r] = count;
        }
    }

    /// <summary>
    /// C rows [0, m) = A rows · B, row i visiting the columns lists[i · listStride ..] (counts[i] of them). B (k × n,
    /// stride ldb) is read in column blocks of 8 vectors, each block over all m rows, so that the block (k · 8 vectors)
    /// stays in L1 while the rows go by.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(float* a, int lda, int* lists, int listStride, int* counts, int m, float* b, int ldb, float* c, int ldc, int n, GemmIsa isa)
    {
        switch (isa)
        {
            case GemmIsa.Avx512: Blocks<Simd512, Vector512<float>>(a, lda, lists, listStride, counts, m, b, ldb, c, ldc, n); break;
            case GemmIsa.Avx2: Blocks<Simd256, Vector256<float>>(a, lda, lists, listStride, counts, m, b, ldb, c, ldc, n); break;
            default:
                for (int i = 0; i < m; i++)
                {
                    int* list = lists + (nint)i * listStride;
                    float* row = a + (nint)i * lda;
                    for (int j = 0; j < n; j++)
                    {
                        float acc = 0f;
                        for (int q = 0; q < counts[i]; q++) acc = MathF.FusedMultiplyAdd(row[list[q]], b[(nint)list[q] * ldb + j], acc);
                        c[(nint)i * ldc + j] = acc;
                    }
                }
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blocks<TSimd, TVec>(float* a, int lda, int* lists, int listStride, int* counts, int m, float* b, int ldb, float* c, int ldc, int n)
        where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int v = TSimd.Count, j = 0;
        for (; j + 8 * v <= n; j += 8 * v)
        {
            for (int i = 0; i < m; i++)
            {
                int* list = lists + (nint)i * listStride;
                float* row = a + (nint)i * lda;
                float* bj = b + j;
                TVec c0 = TSimd.Zero, c1 = TSimd.Zero, c2 = TSimd.Zero, c3 = TSimd.Zero, c4 = TSimd.Zero, c5 = TSimd.Zero, c6 = TSimd.Zero, c7 = TSimd.Zero;
                for (int q = 0, count = counts[i]; q < count; q++)
                {
                    int p = list[q];
                    TVec s = TSimd.Broadcast(row[p]);
                    float* bp = bj + (nint)p * ldb;
                    c0 = TSimd.MultiplyAdd(s, TSimd.Load(bp), c0);
                    c1 = TSimd.MultiplyAdd(s, TSimd.Load(bp + v), c1);
                    c2 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 2 * v), c2);
                    c3 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 3 * v), c3);
                    c4 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 4 * v), c4);
                    c5 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 5 * v), c5);
                    c6 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 6 * v), c6);
                    c7 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 7 * v), c7);
                }
                float* ci = c + (nint)i * ldc + j;
                TSimd.Store(ci, c0);
                TSimd.Store(ci + v, c1);
                TSimd.Store(ci + 2 * v, c2);
                TSimd.Store(ci + 3 * v, c3);
                TSimd.Store(ci + 4 * v, c4);
                TSimd.Store(ci + 5 * v, c5);
                TSimd.Store(ci + 6 * v, c6);
                TSimd.Store(ci + 7 * v, c7);
            }
        }
        for (; j < n; j += v)
        {
            // The last columns a vector at a time, the very last masked to the row's end.
            TVec mask = TSimd.FirstLanes(Math.Min(v, n - j));
            for (int i = 0; i < m; i++)
            {
                int* list = lists + (nint)i * listStride;
                float* row = a + (nint)i * lda;
                TVec acc = TSimd.Zero;
                for (int q = 0, count = counts[i]; q < count; q++)
                    acc = TSimd.MultiplyAdd(TSimd.Broadcast(row[list[q]]), TSimd.LoadMasked(b + (nint)list[q] * ldb + j, mask), acc);
                TSimd.StoreMasked(c + (nint)i * ldc + j, mask, acc);
            }
        }
    }
}

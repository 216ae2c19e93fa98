using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
    /// The indices of <paramref name="row"/>'s non-zero bytes, ascending, into <paramref name="list"/> (at least as long
    /// as the row); returns how many. 32 bytes a compare where Vector256 is accelerated.
    /// </summary>
    [MethodImpl(KernelCompilation.Options)]
    public static int ListNonZero(ReadOnlySpan<byte> row, Span<int> list)
    {
        if (list.Length < row.Length) throw new ArgumentException("list is shorter than the row.", nameof(list));
        int n = row.Length, c = 0, count = 0;
        fixed (byte* pr = row)
        fixed (int* pl = list)
        {
            if (Vector256.IsHardwareAccelerated)
                for (; c + 32 <= n; c += 32)
                {
                    uint bits = ~Vector256.Equals(Vector256.Load(pr + c), Vector256<byte>.Zero).ExtractMostSignificantBits();
                    for (int g = 0; g < 32; g += 8) count = Lanes(bits >> g & 0xFF, c + g, pl, count);
                }
            for (; c < n; c++)
                if (pr[c] != 0) pl[count++] = c;
        }
        return count;
    }

    /// <summary>
    /// The indices of <paramref name="row"/>'s non-zero values (−0 counts as zero: it adds nothing to a product),
    /// ascending, into <paramref name="list"/> (at least as long as the row); returns how many.
    /// </summary>
    [MethodImpl(KernelCompilation.Options)]
    public static int ListNonZero(ReadOnlySpan<float> row, Span<int> list)
    {
        if (list.Length < row.Length) throw new ArgumentException("list is shorter than the row.", nameof(list));
        int n = row.Length, c = 0, count = 0;
        fixed (float* pr = row)
        fixed (int* pl = list)
        {
            if (Vector256.IsHardwareAccelerated)
                for (; c + 8 <= n; c += 8)
                    count = Lanes(~Vector256.Equals(Vector256.Load(pr + c), Vector256<float>.Zero).ExtractMostSignificantBits() & 0xFF, c, pl, count);
            for (; c < n; c++)
                if (pr[c] != 0f) pl[count++] = c;
        }
        return count;
    }

    // The set bits of an 8-bit group starting at column `start`, appended at list[count]: one store of the group's 8
    // entries from ActiveDepth's table of bit positions, without a branch per bit (whose mispredictions cost more than
    // the rest). The store stays inside the row's list: count ≤ start, as only columns before start were listed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Lanes(uint group, int start, int* list, int count)
    {
        var lanes = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(ActiveDepth.BytePositionTable), (nuint)group * 8);
        (lanes + Vector256.Create(start)).Store(list + count);
        return count + BitOperations.PopCount(group);
    }

    /// <summary>
    /// C rows [0, m) = [C +] A rows · B, row i visiting the columns lists[i · listStride ..] (counts[i] of them): with
    /// <paramref name="accumulate"/> each element's chain starts from C's value (a bias put there), as
    /// <see cref="Gemm"/>'s starts from the bias. B (k × n, stride ldb) is read in column blocks of 8 vectors, each
    /// block over all m rows, so that the block (k · 8 vectors) stays in L1 while the rows go by.
    /// </summary>
    [MethodImpl(KernelCompilation.Options)]
    public static void Multiply(float* a, int lda, int* lists, int listStride, int* counts, int m, float* b, int ldb, float* c, int ldc, int n, GemmIsa isa,
        bool accumulate = false)
    {
        switch (isa)
        {
            case GemmIsa.Avx512: Blocks<Simd512, Vector512<float>>(a, lda, lists, listStride, counts, m, b, ldb, c, ldc, n, !accumulate); break;
            case GemmIsa.Avx2: Blocks<Simd256, Vector256<float>>(a, lda, lists, listStride, counts, m, b, ldb, c, ldc, n, !accumulate); break;
            default:
                for (int i = 0; i < m; i++)
                {
                    int* list = lists + (nint)i * listStride;
                    float* row = a + (nint)i * lda;
                    for (int j = 0; j < n; j++)
                    {
                        float acc = accumulate ? c[(nint)i * ldc + j] : 0f;
                        for (int q = 0; q < counts[i]; q++) acc = MathF.FusedMultiplyAdd(row[list[q]], b[(nint)list[q] * ldb + j], acc);
                        c[(nint)i * ldc + j] = acc;
                    }
                }
                break;
        }
    }

    /// <summary>
    /// As <see cref="Multiply"/> on AVX-512 for n = 128 columns of B held as two panels of 64 (a linear layer's weights,
    /// (k, 64) each, the second <paramref name="panelStride"/> floats after the first, ldb 64): each row visits its list
    /// once for all 128 columns, rather than once a panel. The bits of two calls of Multiply, one a panel, except as below.
    /// </summary>
    /// <remarks>
    /// Rows go two at a time over the union of their lists, each of B's rows loaded once for both (a lone row reads
    /// 512 bytes of B from L2 for 8 fused multiply-adds; an MNIST digit has 142 non-zero pixels, two 220). A row then
    /// also visits the other's columns, where its own value is 0: those steps add ±0, which changes at most the sign of
    /// a zero sum, so the bits are a lone row's wherever the result is not ±0 (a ReLU makes either +0).
    /// </remarks>
    [MethodImpl(KernelCompilation.Options)]
    public static void MultiplyPanelPair(float* a, int lda, int* lists, int listStride, int* counts, int m, float* b, nint panelStride, float* c, int ldc,
        bool accumulate = false)
    {
        if (!Vector512.IsHardwareAccelerated) throw new PlatformNotSupportedException("MultiplyPanelPair needs AVX-512.");
        int i = 0;
        for (; i + 2 <= m; i += 2)
            RowPair8(a + (nint)i * lda, lda, lists + (nint)i * listStride, listStride, counts[i], counts[i + 1], b, panelStride, c + (nint)i * ldc, ldc,
                !accumulate);
        if (i < m)
            Sum8<Simd512, Vector512<float>>(a + (nint)i * lda, 1, lists + (nint)i * listStride, 0, counts[i], b, 64, c + (nint)i * ldc, !accumulate,
                upper: panelStride);
    }

    // Rows x and x + lda, lists at list and list + listStride (na and nb entries), over the union of the lists in
    // ascending order: 8 vectors of C each (the last four `upper` floats on in B, as in Sum8), 16 chains.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowPair8(float* x, int lda, int* list, int listStride, int na, int nb, float* b, nint upper, float* ci, int ldc, bool first)
    {
        const int v = 16;
        float* y = x + lda;
        int* other = list + listStride;
        float* cj = ci + ldc;
        Vector512<float> c0, c1, c2, c3, c4, c5, c6, c7, d0, d1, d2, d3, d4, d5, d6, d7;
        if (first) c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = Vector512<float>.Zero;
        else
        {
            c0 = Vector512.Load(ci); c1 = Vector512.Load(ci + v); c2 = Vector512.Load(ci + 2 * v); c3 = Vector512.Load(ci + 3 * v);
            c4 = Vector512.Load(ci + 4 * v); c5 = Vector512.Load(ci + 5 * v); c6 = Vector512.Load(ci + 6 * v); c7 = Vector512.Load(ci + 7 * v);
            d0 = Vector512.Load(cj); d1 = Vector512.Load(cj + v); d2 = Vector512.Load(cj + 2 * v); d3 = Vector512.Load(cj + 3 * v);
            d4 = Vector512.Load(cj + 4 * v); d5 = Vector512.Load(cj + 5 * v); d6 = Vector512.Load(cj + 6 * v); d7 = Vector512.Load(cj + 7 * v);
        }
        for (int qa = 0, qb = 0; qa < na || qb < nb;)
        {
            int pa = qa < na ? list[qa] : int.MaxValue, pb = qb < nb ? other[qb] : int.MaxValue, p = Math.Min(pa, pb);
            qa += pa == p ? 1 : 0;
            qb += pb == p ? 1 : 0;
            var s = Vector512.Create(x[p]);
            var t = Vector512.Create(y[p]);
            float* bp = b + (nint)p * 64, bu = bp + upper;
            var w = Vector512.Load(bp); c0 = Simd512.MultiplyAdd(s, w, c0); d0 = Simd512.MultiplyAdd(t, w, d0);
            w = Vector512.Load(bp + v); c1 = Simd512.MultiplyAdd(s, w, c1); d1 = Simd512.MultiplyAdd(t, w, d1);
            w = Vector512.Load(bp + 2 * v); c2 = Simd512.MultiplyAdd(s, w, c2); d2 = Simd512.MultiplyAdd(t, w, d2);
            w = Vector512.Load(bp + 3 * v); c3 = Simd512.MultiplyAdd(s, w, c3); d3 = Simd512.MultiplyAdd(t, w, d3);
            w = Vector512.Load(bu); c4 = Simd512.MultiplyAdd(s, w, c4); d4 = Simd512.MultiplyAdd(t, w, d4);
            w = Vector512.Load(bu + v); c5 = Simd512.MultiplyAdd(s, w, c5); d5 = Simd512.MultiplyAdd(t, w, d5);
            w = Vector512.Load(bu + 2 * v); c6 = Simd512.MultiplyAdd(s, w, c6); d6 = Simd512.MultiplyAdd(t, w, d6);
            w = Vector512.Load(bu + 3 * v); c7 = Simd512.MultiplyAdd(s, w, c7); d7 = Simd512.MultiplyAdd(t, w, d7);
        }
        c0.Store(ci); c1.Store(ci + v); c2.Store(ci + 2 * v); c3.Store(ci + 3 * v); c4.Store(ci + 4 * v); c5.Store(ci + 5 * v); c6.Store(ci + 6 * v); c7.Store(ci + 7 * v);
        d0.Store(cj); d1.Store(cj + v); d2.Store(cj + 2 * v); d3.Store(cj + 3 * v); d4.Store(cj + 4 * v); d5.Store(cj + 5 * v); d6.Store(cj + 6 * v); d7.Store(cj + 7 * v);
    }

    [MethodImpl(KernelCompilation.Options)]
    private static void Blocks<TSimd, TVec>(float* a, int lda, int* lists, int listStride, int* counts, int m, float* b, int ldb, float* c, int ldc, int n,
        bool first) where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int v = TSimd.Count, j = 0;
        while (j + 8 * v <= n)
        {
            // The last 10 vectors in one pass (10 chains) rather than 8 and then 2 (conv2's 800 columns: 5 × 8 + 10).
            bool ten = n - j == 10 * v;
            for (int i = 0; i < m; i++)
            {
                float* x = a + (nint)i * lda, ci = c + (nint)i * ldc + j;
                int* list = lists + (nint)i * listStride;
                if (ten) Sum10<TSimd, TVec>(x, 1, list, 0, counts[i], b + j, ldb, ci, first, rowOffsets: null);
                else Sum8<TSimd, TVec>(x, 1, list, 0, counts[i], b + j, ldb, ci, first);
            }
            j += ten ? 10 * v : 8 * v;
        }
        for (; j + 4 * v <= n; j += 4 * v)
            for (int i = 0; i < m; i++)
                Sum4<TSimd, TVec>(a + (nint)i * lda, 1, lists + (nint)i * listStride, 0, counts[i], b + j, ldb, c + (nint)i * ldc + j, first, rowOffsets: null);
        for (; j + 2 * v <= n; j += 2 * v)
            for (int i = 0; i < m; i++)
                Sum2<TSimd, TVec>(a + (nint)i * lda, 1, lists + (nint)i * listStride, 0, counts[i], b + j, ldb, c + (nint)i * ldc + j, first, rowOffsets: null);
        for (; j < n; j += v)
        {
            // The last columns a vector at a time, the very last masked to the row's end.
            TVec mask = TSimd.FirstLanes(Math.Min(v, n - j));
            for (int i = 0; i < m; i++)
                Sum1<TSimd, TVec>(a + (nint)i * lda, 1, lists + (nint)i * listStride, 0, counts[i], b + j, ldb, c + (nint)i * ldc + j, mask, first);
        }
    }

    // 8 vectors of C at ci (0 when first, else loaded) += Σ x[p · xStride] · B[p, 0..8 vectors) over p = list[from..to),
    // in that order: one broadcast and eight loads of B's row p per entry. With `upper`, the last four vectors of B's
    // row p start `upper` floats after its first (another panel of a linear layer's weights; default 4 vectors on).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sum8<TSimd, TVec>(float* x, int xStride, int* list, int from, int to, float* b, int ldb, float* ci, bool first,
        int* rowOffsets = null, nint upper = 0) where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int v = TSimd.Count;
        if (upper == 0) upper = 4 * v;
        TVec c0, c1, c2, c3, c4, c5, c6, c7;
        if (first) c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = TSimd.Zero;
        else
        {
            c0 = TSimd.Load(ci); c1 = TSimd.Load(ci + v); c2 = TSimd.Load(ci + 2 * v); c3 = TSimd.Load(ci + 3 * v);
            c4 = TSimd.Load(ci + 4 * v); c5 = TSimd.Load(ci + 5 * v); c6 = TSimd.Load(ci + 6 * v); c7 = TSimd.Load(ci + 7 * v);
        }
        for (int q = from; q < to; q++)
        {
            int p = list[q];
            TVec s = TSimd.Broadcast(x[(nint)p * xStride]);
            float* bp = b + (rowOffsets == null ? (nint)p * ldb : rowOffsets[p]);
            c0 = TSimd.MultiplyAdd(s, TSimd.Load(bp), c0);
            c1 = TSimd.MultiplyAdd(s, TSimd.Load(bp + v), c1);
            c2 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 2 * v), c2);
            c3 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 3 * v), c3);
            float* bu = bp + upper;
            c4 = TSimd.MultiplyAdd(s, TSimd.Load(bu), c4);
            c5 = TSimd.MultiplyAdd(s, TSimd.Load(bu + v), c5);
            c6 = TSimd.MultiplyAdd(s, TSimd.Load(bu + 2 * v), c6);
            c7 = TSimd.MultiplyAdd(s, TSimd.Load(bu + 3 * v), c7);
        }
        TSimd.Store(ci, c0); TSimd.Store(ci + v, c1); TSimd.Store(ci + 2 * v, c2); TSimd.Store(ci + 3 * v, c3);
        TSimd.Store(ci + 4 * v, c4); TSimd.Store(ci + 5 * v, c5); TSimd.Store(ci + 6 * v, c6); TSimd.Store(ci + 7 * v, c7);
    }

    // As Sum8 for ten vectors.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sum10<TSimd, TVec>(float* x, int xStride, int* list, int from, int to, float* b, int ldb, float* ci, bool first, int* rowOffsets)
        where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int v = TSimd.Count;
        TVec c0, c1, c2, c3, c4, c5, c6, c7, c8, c9;
        if (first) c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = c8 = c9 = TSimd.Zero;
        else
        {
            c0 = TSimd.Load(ci); c1 = TSimd.Load(ci + v); c2 = TSimd.Load(ci + 2 * v); c3 = TSimd.Load(ci + 3 * v); c4 = TSimd.Load(ci + 4 * v);
            c5 = TSimd.Load(ci + 5 * v); c6 = TSimd.Load(ci + 6 * v); c7 = TSimd.Load(ci + 7 * v); c8 = TSimd.Load(ci + 8 * v); c9 = TSimd.Load(ci + 9 * v);
        }
        for (int q = from; q < to; q++)
        {
            int p = list[q];
            TVec s = TSimd.Broadcast(x[(nint)p * xStride]);
            float* bp = b + (rowOffsets == null ? (nint)p * ldb : rowOffsets[p]);
            c0 = TSimd.MultiplyAdd(s, TSimd.Load(bp), c0);
            c1 = TSimd.MultiplyAdd(s, TSimd.Load(bp + v), c1);
            c2 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 2 * v), c2);
            c3 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 3 * v), c3);
            c4 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 4 * v), c4);
            c5 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 5 * v), c5);
            c6 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 6 * v), c6);
            c7 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 7 * v), c7);
            c8 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 8 * v), c8);
            c9 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 9 * v), c9);
        }
        TSimd.Store(ci, c0); TSimd.Store(ci + v, c1); TSimd.Store(ci + 2 * v, c2); TSimd.Store(ci + 3 * v, c3); TSimd.Store(ci + 4 * v, c4);
        TSimd.Store(ci + 5 * v, c5); TSimd.Store(ci + 6 * v, c6); TSimd.Store(ci + 7 * v, c7); TSimd.Store(ci + 8 * v, c8); TSimd.Store(ci + 9 * v, c9);
    }

    // As Sum8 for two vectors.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sum2<TSimd, TVec>(float* x, int xStride, int* list, int from, int to, float* b, int ldb, float* ci, bool first, int* rowOffsets)
        where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int v = TSimd.Count;
        TVec c0 = first ? TSimd.Zero : TSimd.Load(ci), c1 = first ? TSimd.Zero : TSimd.Load(ci + v);
        for (int q = from; q < to; q++)
        {
            int p = list[q];
            TVec s = TSimd.Broadcast(x[(nint)p * xStride]);
            float* bp = b + (rowOffsets == null ? (nint)p * ldb : rowOffsets[p]);
            c0 = TSimd.MultiplyAdd(s, TSimd.Load(bp), c0);
            c1 = TSimd.MultiplyAdd(s, TSimd.Load(bp + v), c1);
        }
        TSimd.Store(ci, c0);
        TSimd.Store(ci + v, c1);
    }

    // As Sum8 for four vectors (a linear layer's panel of 64 columns on AVX-512).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sum4<TSimd, TVec>(float* x, int xStride, int* list, int from, int to, float* b, int ldb, float* ci, bool first, int* rowOffsets)
        where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int v = TSimd.Count;
        TVec c0, c1, c2, c3;
        if (first) c0 = c1 = c2 = c3 = TSimd.Zero;
        else { c0 = TSimd.Load(ci); c1 = TSimd.Load(ci + v); c2 = TSimd.Load(ci + 2 * v); c3 = TSimd.Load(ci + 3 * v); }
        for (int q = from; q < to; q++)
        {
            int p = list[q];
            TVec s = TSimd.Broadcast(x[(nint)p * xStride]);
            float* bp = b + (rowOffsets == null ? (nint)p * ldb : rowOffsets[p]);
            c0 = TSimd.MultiplyAdd(s, TSimd.Load(bp), c0);
            c1 = TSimd.MultiplyAdd(s, TSimd.Load(bp + v), c1);
            c2 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 2 * v), c2);
            c3 = TSimd.MultiplyAdd(s, TSimd.Load(bp + 3 * v), c3);
        }
        TSimd.Store(ci, c0); TSimd.Store(ci + v, c1); TSimd.Store(ci + 2 * v, c2); TSimd.Store(ci + 3 * v, c3);
    }

    // As Sum8 for one vector, its lanes limited by mask.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sum1<TSimd, TVec>(float* x, int xStride, int* list, int from, int to, float* b, int ldb, float* ci, TVec mask, bool first,
        int* rowOffsets = null) where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        TVec acc = first ? TSimd.Zero : TSimd.LoadMasked(ci, mask);
        for (int q = from; q < to; q++)
            acc = TSimd.MultiplyAdd(TSimd.Broadcast(x[(nint)list[q] * xStride]),
                TSimd.LoadMasked(b + (rowOffsets == null ? (nint)list[q] * ldb : rowOffsets[list[q]]), mask), acc);
        TSimd.StoreMasked(ci, mask, acc);
    }

    /// <summary>
    /// For A (<paramref name="rows"/> rows, <paramref name="words"/> mask words a row) read by columns: for columns [<paramref name="firstColumn"/>,
    /// <paramref name="endColumn"/>), the rows where the column is non-zero (set in the row masks), ascending, into
    /// <c>lists[column · stride ..]</c>, with the count in counts[column].
    /// </summary>
    public static void ListColumns(ReadOnlySpan<ulong> masks, int words, int rows, int firstColumn, int endColumn, Span<int> lists, int stride, Span<int> counts)
    {
        counts[firstColumn..endColumn].Clear();
        int w0 = firstColumn / 64, w1 = (endColumn + 63) / 64;
        for (int r = 0; r < rows; r++)
            for (int w = w0; w < w1; w++)
            {
                // The bits of this word inside [firstColumn, endColumn).
                int lo = Math.Max(firstColumn - w * 64, 0), hi = Math.Min(endColumn - w * 64, 64);
                ulong keep = (hi == 64 ? ulong.MaxValue : (1UL << hi) - 1) & ~((1UL << lo) - 1);
                for (ulong bits = masks[r * words + w] & keep; bits != 0; bits &= bits - 1)
                {
                    int column = w * 64 + BitOperations.TrailingZeroCount(bits);
                    lists[column * stride + counts[column]++] = r;
                }
            }
    }

    /// <summary>
    /// C (m × n) = Aᵀ · B (<see cref="SparseProduct"/>) for A (k × m) with per-column lists of its non-zero rows
    /// (<see cref="ListColumns"/>) and B (k × n): <c>C[i, j] = Σ A[p, i]·B[p, j]</c> over the listed p, ascending, one fma each (the
    /// same bits as <see cref="Gemm"/> with TransposeA). The k rows go by in chunks of <paramref name="chunkRows"/>,
    /// and within a chunk B is read in column blocks of 8 vectors, so that a block of the chunk stays in L1 while every
    /// column of A visits it; C carries each sum from chunk to chunk. <paramref name="cursors"/> is scratch of 2·m ints.
    /// B's rows may overlap when found through RowOffsets (a convolution's neighbouring pixels share inputs).
    /// </summary>
    [MethodImpl(KernelCompilation.Options)]
    public static void MultiplyTransposed(in SparseProduct p, int chunkRows, Span<int> cursors, GemmIsa isa)
    {
        int m = p.M, n = p.N, k = p.K, lda = p.Lda, ldb = p.Ldb, ldc = p.Ldc, listStride = p.ListStride;
        float* a = p.A, b = p.B, c = p.C;
        int* lists = p.Lists, counts = p.Counts, rowOffsets = p.RowOffsets;
        fixed (int* cursor = cursors)
        {
            int* end = cursor + m;
            for (int i = 0; i < m; i++) cursor[i] = 0;
            for (int r0 = 0; r0 < k; r0 += chunkRows)
            {
                int r1 = Math.Min(k, r0 + chunkRows);
                for (int i = 0; i < m; i++)
                {
                    int q = cursor[i], count = counts[i];
                    int* list = lists + (nint)i * listStride;
                    while (q < count && list[q] < r1) q++;
                    end[i] = q;
                }
                switch (isa)
                {
                    case GemmIsa.Avx512: ColumnBlocks<Simd512, Vector512<float>>(p, cursor, end, r0 == 0); break;
                    case GemmIsa.Avx2: ColumnBlocks<Simd256, Vector256<float>>(p, cursor, end, r0 == 0); break;
                    default:
                        for (int i = 0; i < m; i++)
                        {
                            int* list = lists + (nint)i * listStride;
                            for (int j = 0; j < n; j++)
                            {
                                float acc = r0 == 0 ? 0f : c[(nint)i * ldc + j];
                                for (int q = cursor[i]; q < end[i]; q++)
                                    acc = MathF.FusedMultiplyAdd(a[(nint)list[q] * lda + i], b[(rowOffsets == null ? (nint)list[q] * ldb : rowOffsets[list[q]]) + j], acc);
                                c[(nint)i * ldc + j] = acc;
                            }
                        }
                        break;
                }
                for (int i = 0; i < m; i++) cursor[i] = end[i];
            }
        }
    }

    // One chunk: for each block of 8 vectors of C's columns, every row i of C sums its listed entries [from[i], to[i]);
    // then pairs of vectors (two independent chains per entry instead of one), then a last masked vector.
    [MethodImpl(KernelCompilation.Options)]
    private static void ColumnBlocks<TSimd, TVec>(in SparseProduct p, int* from, int* to, bool first) where TSimd : struct, ISimd<TVec> where TVec : struct
    {
        int m = p.M, n = p.N, lda = p.Lda, ldb = p.Ldb, ldc = p.Ldc, listStride = p.ListStride;
        float* a = p.A, b = p.B, c = p.C;
        int* lists = p.Lists, rowOffsets = p.RowOffsets;
        int v = TSimd.Count, j = 0;
        while (j + 8 * v <= n)
        {
            bool ten = n - j == 10 * v; // as in Blocks: a run of 160 columns in one pass
            for (int i = 0; i < m; i++)
            {
                int* list = lists + (nint)i * listStride;
                if (ten) Sum10<TSimd, TVec>(a + i, lda, list, from[i], to[i], b + j, ldb, c + (nint)i * ldc + j, first, rowOffsets);
                else Sum8<TSimd, TVec>(a + i, lda, list, from[i], to[i], b + j, ldb, c + (nint)i * ldc + j, first, rowOffsets);
            }
            j += ten ? 10 * v : 8 * v;
        }
        for (; j + 4 * v <= n; j += 4 * v)
            for (int i = 0; i < m; i++)
                Sum4<TSimd, TVec>(a + i, lda, lists + (nint)i * listStride, from[i], to[i], b + j, ldb, c + (nint)i * ldc + j, first, rowOffsets);
        for (; j + 2 * v <= n; j += 2 * v)
            for (int i = 0; i < m; i++)
                Sum2<TSimd, TVec>(a + i, lda, lists + (nint)i * listStride, from[i], to[i], b + j, ldb, c + (nint)i * ldc + j, first, rowOffsets);
        for (; j < n; j += v)
        {
            TVec mask = TSimd.FirstLanes(Math.Min(v, n - j));
            for (int i = 0; i < m; i++)
                Sum1<TSimd, TVec>(a + i, lda, lists + (nint)i * listStride, from[i], to[i], b + j, ldb, c + (nint)i * ldc + j, mask, first, rowOffsets);
        }
    }
}

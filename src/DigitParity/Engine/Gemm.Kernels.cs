using System.Runtime.CompilerServices;

namespace DigitParity.Engine;

internal static unsafe partial class Gemm
{
    /// <summary>Pointers and strides shared by every tile. A[i, p] lives at <c>A + i·RowStride + p·DepthStride</c>.</summary>
    private struct Operands(float* a, int lda, float* b, int ldb, float* bias, float* c, int ldc, int k, GemmOptions options)
    {
        public float* A = a;
        // A as bytes and the value of each byte (see Multiply); A8 is null for float A.
        public byte* A8;
        public float* ByteValues;
        public nint RowStride = (options & GemmOptions.TransposeA) != 0 ? 1 : lda;
        public nint DepthStride = (options & GemmOptions.TransposeA) != 0 ? lda : 1;
        public float* B = b;
        public nint Ldb = ldb;
        public float* Bias = bias;
        public float* C = c;
        public nint Ldc = ldc;
        public int K = k;
        public bool Accumulate = (options & GemmOptions.Accumulate) != 0;
        public bool Relu = (options & GemmOptions.Relu) != 0;
        // Momentum SGD applied to W and V (laid out like C) when C's values are final; see MomentumStep.
        public float* W;
        public float* V;
        public bool Update;
        public bool KeepGradient;
        public MomentumStep Step;
        // With a gate G laid out like C: C = result where G > 0, else 0 (a ReLU's backward, G its output).
        public float* Gate;
        // Depth masks (see Multiply): A's row masks (MaskStride words a row) or, MasksByTile, its tile-mask table (MaskStride rows).
        public ulong* Masks;
        public int MaskStride;
        public bool MasksByTile;
    }

    /// <summary>Depth of a block of B kept in L1: 128 rows × 64 floats = 32 KiB (measured best of 64-256 for fc1).</summary>
    private const int DepthBlock = 128;

    /// <summary>
    /// Depth of a block for products that skip zeros by masks (fc1's): 1024 steps, so fc1's 784 inputs are one block.
    /// Such a tile visits ~40 % of the steps of a block, so a 128-step block gave each tile ~50 steps of work against
    /// its accumulators' store and reload and its list: one block is ~15 % faster for fc1's forward product (one
    /// thread, profile-mlp, 3 runs each), though its 200 KB panel of W then comes from L2. A multiple of 64 (mask words).
    /// </summary>
    private const int MaskDepthBlock = 1024;

    // Column panels outside, then depth blocks, then row tiles: a DepthBlock × 64 block of B stays in L1 while A streams
    // past it (products with masks take MaskDepthBlock steps at a time). Between depth blocks the partial sums go through
    // C unchanged (a float stored and reloaded is exact), so blocking does not change a single bit of the result.
    // With depth lists, tile t visits only the p in lists[t·k ..] (ascending), block by block via a cursor.
    [MethodImpl(KernelCompilation.Options)]
    private static void Blocked<TS, TV, TA>(in Operands x, int m, int n, int* lists, int* counts)
        where TS : struct, ISimd<TV> where TV : struct where TA : struct, IElementsA
    {
        int width = TS.TileVectors * TS.Count;
        int tiles = (m + TileRows - 1) / TileRows;
        // With masks: the current tile's depth steps within the current block.
        int blockDepth = x.Masks == null ? DepthBlock : MaskDepthBlock;
        int* buffer = stackalloc int[x.Masks == null ? 1 : blockDepth];
        if (m < TileRows && (x.Masks == null || (!x.MasksByTile && x.K <= blockDepth)))
        {
            // Fewer rows than a tile (a prediction of one image): its whole depth at once, in register tiles wider
            // than an edge tile's single vector, so that enough FMA chains overlap. Same steps, same order: same bits.
            int* steps = lists != null ? lists : x.Masks != null ? buffer : null;
            int count = lists != null ? counts[0] : x.Masks != null ? ActiveDepth.RowTileList(x.Masks, x.MaskStride, 0, m, 0, x.MaskStride, buffer) : x.K;
            Short<TS, TV, TA>(x, m, n, steps, count);
            return;
        }
        if (x.Masks != null && !x.MasksByTile && x.K <= blockDepth && TS.TileVectors == 2)
        {
            // One depth block and narrow panels (Vector256: fc1's 128 columns are 8 panels of 16): row tiles outside,
            // so each tile's list is built once for all panels instead of once per panel (its rows of A stay in L1; B
            // comes from L2 in either order). Each element sums the same steps in the same order: the same bits.
            for (int i = 0; i < m; i += TileRows)
            {
                int count = ActiveDepth.RowTileList(x.Masks, x.MaskStride, i, Math.Min(m, i + TileRows), 0, x.MaskStride, buffer);
                for (int j = 0; j < n; j += width)
                    Tile<TS, TV, TA>(x, i, j, Math.Min(TileRows, m - i), Math.Min(width, n - j), buffer, count);
            }
            return;
        }
        int* cursor = stackalloc int[lists == null ? 1 : tiles];
        for (int j = 0; j < n; j += width)
        {
            int columns = Math.Min(width, n - j);
            if (lists != null) new Span<int>(cursor, tiles).Clear();
            int p0 = 0;
            do
            {
                Operands block = x;
                int depth = Math.Min(blockDepth, x.K - p0);
                if (lists == null && x.Masks == null)
                {
                    block.A = x.A + p0 * x.DepthStride;
                    block.A8 = x.A8 + p0 * x.DepthStride;
                    block.B = x.B + p0 * x.Ldb;
                }
                if (p0 > 0) { block.Bias = null; block.Accumulate = true; }
                block.Relu = x.Relu && p0 + depth == x.K;
                block.Update = x.Update && p0 + depth == x.K;
                for (int t = 0, i = 0; i < m; t++, i += TileRows)
                {
                    int* list = null;
                    int count = depth;
                    if (lists != null)
                    {
                        int* all = lists + (nint)t * x.K;
                        int start = cursor[t], end = p0 + depth == x.K ? counts[t] : FirstAtLeast(all, start, counts[t], p0 + depth);
                        cursor[t] = end;
                        list = all + start;
                        count = end - start;
                    }
                    else if (x.Masks != null)
                    {
                        // A block's steps are those of its mask words, p0/64 up to (p0 + blockDepth)/64.
                        count = x.MasksByTile
                            ? ActiveDepth.ColumnTileList(x.Masks, x.MaskStride, t, p0, p0 + depth, buffer)
                            : ActiveDepth.RowTileList(x.Masks, x.MaskStride, i, Math.Min(m, i + TileRows), p0 >> 6, Math.Min(x.MaskStride, (p0 + blockDepth) >> 6), buffer);
                        list = buffer;
                    }
                    Tile<TS, TV, TA>(block, i, j, Math.Min(TileRows, m - i), columns, list, count);
                }
                p0 += blockDepth;
            }
            while (p0 < x.K);
        }
    }

    // C[i..i+rows, j..j+columns] over the given depth steps: a full register tile, or edge tiles where it does not fit.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile<TS, TV, TA>(in Operands x, int i, int j, int rows, int columns, int* list, int count)
        where TS : struct, ISimd<TV> where TV : struct where TA : struct, IElementsA
    {
        int width = TS.TileVectors * TS.Count;
        if (rows == TileRows && columns == width)
        {
            FullTile<TS, TV, FullWidth, TA>(x, i, j, list, count);
            return;
        }
        // A panel of 32 or more columns (conv1's 32 channels, a 32-column share) still gets 10
        // accumulators: enough to hide the FMA latency, where an edge tile's 5 are not.
        int jj = j;
        if (rows == TileRows && TS.TileVectors == 4 && columns >= width / 2)
        {
            FullTile<TS, TV, HalfWidth, TA>(x, i, j, list, count);
            jj += width / 2;
        }
        for (; jj < j + columns; jj += TS.Count)
            EdgeTile<TS, TV, TA>(x, i, jj, rows, Math.Min(TS.Count, j + columns - jj), list, count);
    }

    // C (m × n, m < TileRows) over the given depth steps: one row in tiles of 8 vectors, 2-4 rows in tiles of 2 vectors,
    // the columns left over in edge tiles.
    private static void Short<TS, TV, TA>(in Operands x, int m, int n, int* list, int count)
        where TS : struct, ISimd<TV> where TV : struct where TA : struct, IElementsA
    {
        int j = 0, w = TS.Count;
        if (m == 1)
            for (; j + 8 * w <= n; j += 8 * w) WideRow<TS, TV, TA>(x, j, list, count);
        for (; j + 2 * w <= n; j += 2 * w)
        {
            switch (m)
            {
                case 1: ShortTile<TS, TV, TA, OneRow>(x, j, list, count); break;
                case 2: ShortTile<TS, TV, TA, TwoRows>(x, j, list, count); break;
                case 3: ShortTile<TS, TV, TA, ThreeRows>(x, j, list, count); break;
                default: ShortTile<TS, TV, TA, FourRows>(x, j, list, count); break;
            }
        }
        for (; j < n; j += w) EdgeTile<TS, TV, TA>(x, 0, j, m, Math.Min(w, n - j), list, count);
    }

    // Row 0 of C, columns j .. j + 8·Count, in 8 accumulators: per step of p, 8 loads of B and one broadcast of A.
    [MethodImpl(KernelCompilation.Options)]
    private static void WideRow<TS, TV, TA>(in Operands x, int j, int* list, int count)
        where TS : struct, ISimd<TV> where TV : struct where TA : struct, IElementsA
    {
        int w = TS.Count;
        TV c0 = TS.Zero, c1 = TS.Zero, c2 = TS.Zero, c3 = TS.Zero, c4 = TS.Zero, c5 = TS.Zero, c6 = TS.Zero, c7 = TS.Zero;
        if (x.Bias != null)
        {
            float* bias = x.Bias + j;
            c0 = TS.Load(bias); c1 = TS.Load(bias + w); c2 = TS.Load(bias + 2 * w); c3 = TS.Load(bias + 3 * w);
            c4 = TS.Load(bias + 4 * w); c5 = TS.Load(bias + 5 * w); c6 = TS.Load(bias + 6 * w); c7 = TS.Load(bias + 7 * w);
        }
        if (x.Accumulate)
        {
            float* r = x.C + j;
            c0 = TS.Add(TS.Load(r), c0); c1 = TS.Add(TS.Load(r + w), c1); c2 = TS.Add(TS.Load(r + 2 * w), c2); c3 = TS.Add(TS.Load(r + 3 * w), c3);
            c4 = TS.Add(TS.Load(r + 4 * w), c4); c5 = TS.Add(TS.Load(r + 5 * w), c5); c6 = TS.Add(TS.Load(r + 6 * w), c6); c7 = TS.Add(TS.Load(r + 7 * w), c7);
        }
        float* af = x.A, values = x.ByteValues;
        byte* a8 = x.A8;
        float* b0p = x.B + j;
        nint ds = x.DepthStride, ldb = x.Ldb;
        for (int q = 0; q < count; q++)
        {
            nint p = list == null ? q : list[q];
            float* b = b0p + p * ldb;
            TV av = TS.Broadcast(TA.At(af, a8, values, p * ds));
            c0 = TS.MultiplyAdd(av, TS.Load(b), c0); c1 = TS.MultiplyAdd(av, TS.Load(b + w), c1);
            c2 = TS.MultiplyAdd(av, TS.Load(b + 2 * w), c2); c3 = TS.MultiplyAdd(av, TS.Load(b + 3 * w), c3);
            c4 = TS.MultiplyAdd(av, TS.Load(b + 4 * w), c4); c5 = TS.MultiplyAdd(av, TS.Load(b + 5 * w), c5);
            c6 = TS.MultiplyAdd(av, TS.Load(b + 6 * w), c6); c7 = TS.MultiplyAdd(av, TS.Load(b + 7 * w), c7);
        }
        StoreRow<TS, TV>(x, j, w, four: true, c0, c1, c2, c3);
        StoreRow<TS, TV>(x, j + 4 * w, w, four: true, c4, c5, c6, c7);
    }

    // Rows 0 .. TR.Rows − 1 of C, columns j .. j + 2·Count, in TR.Rows × 2 accumulators (an edge tile has one a row).
    [MethodImpl(KernelCompilation.Options)]
    private static void ShortTile<TS, TV, TA, TR>(in Operands x, int j, int* list, int count)
        where TS : struct, ISimd<TV> where TV : struct where TA : struct, IElementsA where TR : struct, ITileRows
    {
        int w = TS.Count, rows = TR.Rows;
        TV b0 = TS.Zero, b1 = TS.Zero;
        if (x.Bias != null) { b0 = TS.Load(x.Bias + j); b1 = TS.Load(x.Bias + j + w); }
        TV c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1;
        nint ldc = x.Ldc;
        if (x.Accumulate)
        {
            float* r = x.C + j;
            c00 = TS.Add(TS.Load(r), b0); c01 = TS.Add(TS.Load(r + w), b1);
            if (rows > 1) { c10 = TS.Add(TS.Load(r + ldc), b0); c11 = TS.Add(TS.Load(r + ldc + w), b1); }
            if (rows > 2) { c20 = TS.Add(TS.Load(r + 2 * ldc), b0); c21 = TS.Add(TS.Load(r + 2 * ldc + w), b1); }
            if (rows > 3) { c30 = TS.Add(TS.Load(r + 3 * ldc), b0); c31 = TS.Add(TS.Load(r + 3 * ldc + w), b1); }
        }
        float* af = x.A, values = x.ByteValues;
        byte* a8 = x.A8;
        float* b0p = x.B + j;
        nint rs = x.RowStride, ds = x.DepthStride, ldb = x.Ldb;
        for (int q = 0; q < count; q++)
        {
            nint p = list == null ? q : list[q];
            nint a = p * ds;
            float* b = b0p + p * ldb;
            TV v0 = TS.Load(b), v1 = TS.Load(b + w);
            TV av = TS.Broadcast(TA.At(af, a8, values, a));
            c00 = TS.MultiplyAdd(av, v0, c00); c01 = TS.MultiplyAdd(av, v1, c01);
            if (rows > 1) { av = TS.Broadcast(TA.At(af, a8, values, a + rs)); c10 = TS.MultiplyAdd(av, v0, c10); c11 = TS.MultiplyAdd(av, v1, c11); }
            if (rows > 2) { av = TS.Broadcast(TA.At(af, a8, values, a + 2 * rs)); c20 = TS.MultiplyAdd(av, v0, c20); c21 = TS.MultiplyAdd(av, v1, c21); }
            if (rows > 3) { av = TS.Broadcast(TA.At(af, a8, values, a + 3 * rs)); c30 = TS.MultiplyAdd(av, v0, c30); c31 = TS.MultiplyAdd(av, v1, c31); }
        }
        StoreRow<TS, TV>(x, j, w, four: false, c00, c01, c00, c01);
        if (rows > 1) StoreRow<TS, TV>(x, j + ldc, w, four: false, c10, c11, c10, c11);
        if (rows > 2) StoreRow<TS, TV>(x, j + 2 * ldc, w, four: false, c20, c21, c20, c21);
        if (rows > 3) StoreRow<TS, TV>(x, j + 3 * ldc, w, four: false, c30, c31, c30, c31);
    }

    // The first position in list[start..end) (ascending) holding a value ≥ bound, or end. A depth block holds ~50 of
    // a tile's ~300 entries: probing 16 entries at a time, then stepping, reads fewer entries than a plain scan and
    // mispredicts less than a binary search (interleaved A/B of the MLP: 294k → 318k samples/s against the latter).
    private static int FirstAtLeast(int* list, int start, int end, int bound)
    {
        while (start + 16 <= end && list[start + 15] < bound) start += 16;
        while (start < end && list[start] < bound) start++;
        return start;
    }

    // C[i..i+5, j..j+width] in 5 × TileVectors accumulators (a HalfWidth tile: 5 × 2, half the width): per step of p,
    // TileVectors loads of B and 5 broadcasts of A feed 5 × TileVectors FMAs.
    [MethodImpl(KernelCompilation.Options)]
    private static void FullTile<TS, TV, TW, TA>(in Operands x, int i, int j, int* list, int count)
        where TS : struct, ISimd<TV> where TV : struct where TW : struct, ITileWidth where TA : struct, IElementsA
    {
        int w = TS.Count;
        bool four = TS.TileVectors == 4 && !TW.Half;
        float* c0 = x.C + i * x.Ldc + j;
        TV c00, c01, c02 = TS.Zero, c03 = TS.Zero, c10, c11, c12 = TS.Zero, c13 = TS.Zero, c20, c21, c22 = TS.Zero, c23 = TS.Zero,
           c30, c31, c32 = TS.Zero, c33 = TS.Zero, c40, c41, c42 = TS.Zero, c43 = TS.Zero;
        {
            TV b0 = TS.Zero, b1 = TS.Zero, b2 = TS.Zero, b3 = TS.Zero;
            if (x.Bias != null)
            {
                b0 = TS.Load(x.Bias + j); b1 = TS.Load(x.Bias + j + w);
                if (four) { b2 = TS.Load(x.Bias + j + 2 * w); b3 = TS.Load(x.Bias + j + 3 * w); }
            }
            if (x.Accumulate)
            {
                float* r = c0;
                c00 = TS.Add(TS.Load(r), b0); c01 = TS.Add(TS.Load(r + w), b1);
                if (four) { c02 = TS.Add(TS.Load(r + 2 * w), b2); c03 = TS.Add(TS.Load(r + 3 * w), b3); }
                r += x.Ldc;
                c10 = TS.Add(TS.Load(r), b0); c11 = TS.Add(TS.Load(r + w), b1);
                if (four) { c12 = TS.Add(TS.Load(r + 2 * w), b2); c13 = TS.Add(TS.Load(r + 3 * w), b3); }
                r += x.Ldc;
                c20 = TS.Add(TS.Load(r), b0); c21 = TS.Add(TS.Load(r + w), b1);
                if (four) { c22 = TS.Add(TS.Load(r + 2 * w), b2); c23 = TS.Add(TS.Load(r + 3 * w), b3); }
                r += x.Ldc;
                c30 = TS.Add(TS.Load(r), b0); c31 = TS.Add(TS.Load(r + w), b1);
                if (four) { c32 = TS.Add(TS.Load(r + 2 * w), b2); c33 = TS.Add(TS.Load(r + 3 * w), b3); }
                r += x.Ldc;
                c40 = TS.Add(TS.Load(r), b0); c41 = TS.Add(TS.Load(r + w), b1);
                if (four) { c42 = TS.Add(TS.Load(r + 2 * w), b2); c43 = TS.Add(TS.Load(r + 3 * w), b3); }
            }
            else
            {
                c00 = c10 = c20 = c30 = c40 = b0;
                c01 = c11 = c21 = c31 = c41 = b1;
                if (four) { c02 = c12 = c22 = c32 = c42 = b2; c03 = c13 = c23 = c33 = c43 = b3; }
            }
        }

        float* af = x.A, values = x.ByteValues;
        byte* a8 = x.A8;
        float* b0p = x.B + j;
        nint a0 = i * x.RowStride, rs = x.RowStride, ds = x.DepthStride, ldb = x.Ldb;
        for (int q = 0; q < count; q++)
        {
            nint p = list == null ? q : list[q];
            nint a = a0 + p * ds;
            float* b = b0p + p * ldb;
            TV b0 = TS.Load(b), b1 = TS.Load(b + w), b2 = TS.Zero, b3 = TS.Zero;
            if (four) { b2 = TS.Load(b + 2 * w); b3 = TS.Load(b + 3 * w); }
            TV av = TS.Broadcast(TA.At(af, a8, values, a));
            c00 = TS.MultiplyAdd(av, b0, c00); c01 = TS.MultiplyAdd(av, b1, c01);
            if (four) { c02 = TS.MultiplyAdd(av, b2, c02); c03 = TS.MultiplyAdd(av, b3, c03); }
            av = TS.Broadcast(TA.At(af, a8, values, a + rs));
            c10 = TS.MultiplyAdd(av, b0, c10); c11 = TS.MultiplyAdd(av, b1, c11);
            if (four) { c12 = TS.MultiplyAdd(av, b2, c12); c13 = TS.MultiplyAdd(av, b3, c13); }
            av = TS.Broadcast(TA.At(af, a8, values, a + 2 * rs));
            c20 = TS.MultiplyAdd(av, b0, c20); c21 = TS.MultiplyAdd(av, b1, c21);
            if (four) { c22 = TS.MultiplyAdd(av, b2, c22); c23 = TS.MultiplyAdd(av, b3, c23); }
            av = TS.Broadcast(TA.At(af, a8, values, a + 3 * rs));
            c30 = TS.MultiplyAdd(av, b0, c30); c31 = TS.MultiplyAdd(av, b1, c31);
            if (four) { c32 = TS.MultiplyAdd(av, b2, c32); c33 = TS.MultiplyAdd(av, b3, c33); }
            av = TS.Broadcast(TA.At(af, a8, values, a + 4 * rs));
            c40 = TS.MultiplyAdd(av, b0, c40); c41 = TS.MultiplyAdd(av, b1, c41);
            if (four) { c42 = TS.MultiplyAdd(av, b2, c42); c43 = TS.MultiplyAdd(av, b3, c43); }
        }

        nint at = i * x.Ldc + j;
        StoreRow<TS, TV>(x, at, w, four, c00, c01, c02, c03);
        StoreRow<TS, TV>(x, at + x.Ldc, w, four, c10, c11, c12, c13);
        StoreRow<TS, TV>(x, at + 2 * x.Ldc, w, four, c20, c21, c22, c23);
        StoreRow<TS, TV>(x, at + 3 * x.Ldc, w, four, c30, c31, c32, c33);
        StoreRow<TS, TV>(x, at + 4 * x.Ldc, w, four, c40, c41, c42, c43);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<TS, TV>(in Operands x, nint at, int w, bool four, TV v0, TV v1, TV v2, TV v3)
        where TS : struct, ISimd<TV> where TV : struct
    {
        if (x.Relu) { v0 = TS.Relu(v0); v1 = TS.Relu(v1); v2 = TS.Relu(v2); v3 = TS.Relu(v3); }
        if (x.Gate != null)
        {
            float* g = x.Gate + at;
            v0 = TS.WherePositive(v0, TS.Load(g)); v1 = TS.WherePositive(v1, TS.Load(g + w));
            if (four) { v2 = TS.WherePositive(v2, TS.Load(g + 2 * w)); v3 = TS.WherePositive(v3, TS.Load(g + 3 * w)); }
        }
        Store<TS, TV>(x, at, v0);
        Store<TS, TV>(x, at + w, v1);
        if (four) { Store<TS, TV>(x, at + 2 * w, v2); Store<TS, TV>(x, at + 3 * w, v3); }
    }

    // C = g; and with an SGD epilogue: v = μ·v + (g + λ·w), w = w − η·v, the same operations as Sgd.Update.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TS, TV>(in Operands x, nint at, TV g) where TS : struct, ISimd<TV> where TV : struct
    {
        if (!x.Update || x.KeepGradient) TS.Store(x.C + at, g);
        if (!x.Update) return;
        TV w = TS.Load(x.W + at);
        TV v = x.Step.Velocity<TS, TV>(w, g, TS.Load(x.V + at));
        TS.Store(x.V + at, v);
        TS.Store(x.W + at, x.Step.Weight<TS, TV>(w, v));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreMasked<TS, TV>(in Operands x, nint at, TV mask, TV g) where TS : struct, ISimd<TV> where TV : struct
    {
        if (x.Gate != null) g = TS.WherePositive(g, TS.LoadMasked(x.Gate + at, mask));
        if (!x.Update || x.KeepGradient) TS.StoreMasked(x.C + at, mask, g);
        if (!x.Update) return;
        TV w = TS.LoadMasked(x.W + at, mask);
        TV v = x.Step.Velocity<TS, TV>(w, g, TS.LoadMasked(x.V + at, mask));
        TS.StoreMasked(x.V + at, mask, v);
        TS.StoreMasked(x.W + at, mask, x.Step.Weight<TS, TV>(w, v));
    }

    // Up to 5 rows × one vector of up to Count columns, with masked loads and stores so that
    // nothing outside C or B is touched: the edges of any shape (1×1, 5×63, 101×785, ...).
    [MethodImpl(KernelCompilation.Options)]
    private static void EdgeTile<TS, TV, TA>(in Operands x, int i, int j, int rows, int columns, int* list, int count)
        where TS : struct, ISimd<TV> where TV : struct where TA : struct, IElementsA
    {
        TV mask = TS.FirstLanes(columns);
        TV init = x.Bias != null ? TS.LoadMasked(x.Bias + j, mask) : TS.Zero;
        float* c = x.C + i * x.Ldc + j;
        nint ldc = x.Ldc;
        TV r0 = init, r1 = init, r2 = init, r3 = init, r4 = init;
        if (x.Accumulate)
        {
            r0 = TS.Add(TS.LoadMasked(c, mask), init);
            if (rows > 1) r1 = TS.Add(TS.LoadMasked(c + ldc, mask), init);
            if (rows > 2) r2 = TS.Add(TS.LoadMasked(c + 2 * ldc, mask), init);
            if (rows > 3) r3 = TS.Add(TS.LoadMasked(c + 3 * ldc, mask), init);
            if (rows > 4) r4 = TS.Add(TS.LoadMasked(c + 4 * ldc, mask), init);
        }
        float* af = x.A, values = x.ByteValues;
        byte* a8 = x.A8;
        float* b0 = x.B + j;
        nint a0 = i * x.RowStride, rs = x.RowStride, ds = x.DepthStride, ldb = x.Ldb;
        for (int q = 0; q < count; q++)
        {
            nint p = list == null ? q : list[q];
            nint a = a0 + p * ds;
            float* b = b0 + p * ldb;
            TV bv = TS.LoadMasked(b, mask);
            r0 = TS.MultiplyAdd(TS.Broadcast(TA.At(af, a8, values, a)), bv, r0);
            if (rows > 1) r1 = TS.MultiplyAdd(TS.Broadcast(TA.At(af, a8, values, a + rs)), bv, r1);
            if (rows > 2) r2 = TS.MultiplyAdd(TS.Broadcast(TA.At(af, a8, values, a + 2 * rs)), bv, r2);
            if (rows > 3) r3 = TS.MultiplyAdd(TS.Broadcast(TA.At(af, a8, values, a + 3 * rs)), bv, r3);
            if (rows > 4) r4 = TS.MultiplyAdd(TS.Broadcast(TA.At(af, a8, values, a + 4 * rs)), bv, r4);
        }
        if (x.Relu) { r0 = TS.Relu(r0); r1 = TS.Relu(r1); r2 = TS.Relu(r2); r3 = TS.Relu(r3); r4 = TS.Relu(r4); }
        nint at = i * x.Ldc + j;
        StoreMasked<TS, TV>(x, at, mask, r0);
        if (rows > 1) StoreMasked<TS, TV>(x, at + ldc, mask, r1);
        if (rows > 2) StoreMasked<TS, TV>(x, at + 2 * ldc, mask, r2);
        if (rows > 3) StoreMasked<TS, TV>(x, at + 3 * ldc, mask, r3);
        if (rows > 4) StoreMasked<TS, TV>(x, at + 4 * ldc, mask, r4);
    }

    // No SIMD: the i-p-j loop order streams rows of B; per element the operation order is unchanged.
    private static void Scalar<TA>(in Operands x, int m, int n) where TA : struct, IElementsA
    {
        for (int i = 0; i < m; i++)
        {
            float* c = x.C + i * x.Ldc;
            for (int j = 0; j < n; j++)
                c[j] = Initial(c[j], x.Bias != null ? x.Bias[j] : 0f, x.Accumulate ? GemmOptions.Accumulate : GemmOptions.None, x.Bias != null);
            nint a = i * x.RowStride;
            for (int p = 0; p < x.K; p++)
            {
                float aip = TA.At(x.A, x.A8, x.ByteValues, a + p * x.DepthStride);
                float* b = x.B + p * x.Ldb;
                for (int j = 0; j < n; j++) c[j] = MathF.FusedMultiplyAdd(aip, b[j], c[j]);
            }
            if (x.Relu)
                for (int j = 0; j < n; j++) c[j] = MathF.Max(c[j], 0f);
            if (x.Gate != null)
                for (int j = 0; j < n; j++) c[j] = x.Gate[i * x.Ldc + j] > 0f ? c[j] : 0f;
            if (x.Update)
            {
                float* w = x.W + i * x.Ldc, v = x.V + i * x.Ldc;
                for (int j = 0; j < n; j++) (w[j], v[j]) = x.Step.Apply(w[j], c[j], v[j]);
            }
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Runtime.Intrinsics;

namespace DigitParity.Engine;

/// <summary>What Gemm.Multiply does besides the product.</summary>
[Flags]
public enum GemmOptions
{
    /// <summary>C = op(A)·B (+ bias).</summary>
    None = 0,

    /// <summary>C = C + op(A)·B (+ bias): add to what C holds.</summary>
    Accumulate = 1,

    /// <summary>Apply max(0, ·) to the result before storing it.</summary>
    Relu = 2,

    /// <summary>Read A as its transpose: A is stored k × m (row stride lda) and used as m × k.</summary>
    TransposeA = 4,
}

/// <summary>
/// The momentum-SGD rule, written once for every vector width and shared by <c>Sgd.Update</c> and the update fused
/// into a weight-gradient product: <c>v = μ·v + (g + λ·w); w = w − η·v</c>. KeepGradient = false lets a fused
/// product leave the final gradient in registers only.
/// </summary>
internal readonly record struct SgdRule(float LearningRate, float Momentum, float WeightDecay, bool KeepGradient = true)
{
    /// <summary>μ·v + (g + λ·w): the momentum after this step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Velocity<TS, TV>(TV w, TV g, TV v) where TS : struct, ISimd<TV> where TV : struct
        => TS.Add(TS.Multiply(TS.Broadcast(Momentum), v), TS.Add(g, TS.Multiply(TS.Broadcast(WeightDecay), w)));

    /// <summary>w − η·v: the weight after this step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TV Weight<TS, TV>(TV w, TV v) where TS : struct, ISimd<TV> where TV : struct
        => TS.Subtract(w, TS.Multiply(TS.Broadcast(LearningRate), v));

    /// <summary>The same rule on one float.</summary>
    public (float W, float V) Apply(float w, float g, float v)
    {
        float velocity = Momentum * v + (g + WeightDecay * w);
        return (w - LearningRate * velocity, velocity);
    }
}

/// <summary>Whether a register tile uses all of its vectors or, for a narrow panel, half of them (a compile-time choice).</summary>
internal interface ITileWidth
{
    static abstract bool Half { get; }
}

internal struct FullWidth : ITileWidth
{
    public static bool Half => false;
}

internal struct HalfWidth : ITileWidth
{
    public static bool Half => true;
}

/// <summary>How a kernel reads an element of A: a float, or a byte looked up in a 256-entry table (a compile-time choice).</summary>
internal unsafe interface IElementsA
{
    static abstract float At(float* a, byte* bytes, float* values, nint index);
}

internal unsafe struct FloatsA : IElementsA
{
    public static float At(float* a, byte* bytes, float* values, nint index) => a[index];
}

internal unsafe struct BytesA : IElementsA
{
    public static float At(float* a, byte* bytes, float* values, nint index) => values[bytes[index]];
}

/// <summary>Instruction sets the matrix multiply can run on; the best available is the default.</summary>
internal enum GemmIsa
{
    Scalar,
    Avx2,
    Avx512,
}

/// <summary>
/// Single-precision matrix multiply over flat row-major buffers:
/// <c>C (m × n) = [C +] [bias +] op(A) (m × k) · B (k × n)</c>, then optionally ReLU.
/// Every element is computed as <c>acc = init; for p in 0..k: acc = fma(A[i,p], B[p,j], acc)</c>, in that order,
/// by every path — register-blocked AVX-512, AVX2, scalar, and the naive reference — so all of them agree bit for bit
/// and results do not depend on how columns are split between threads.
/// </summary>
public static unsafe class Gemm
{
    /// <summary>Rows of the register tile: 5 rows × 4 vectors = 20 accumulators (AVX-512).</summary>
    public const int TileRows = 5;

    /// <summary>The instruction set Gemm.Multiply uses on this machine.</summary>
    internal static GemmIsa BestIsa { get; } =
        Avx512F.IsSupported ? GemmIsa.Avx512 : Avx2.IsSupported && Fma.IsSupported ? GemmIsa.Avx2 : GemmIsa.Scalar;

    /// <summary>
    /// C (m × n, row stride <paramref name="ldc"/>) = op(A) · B, with B k × n (row stride <paramref name="ldb"/>),
    /// A m × k (row stride <paramref name="lda"/>) or, with <see cref="GemmOptions.TransposeA"/>, k × m.
    /// <paramref name="bias"/> is empty or holds n values added to every row.
    /// </summary>
    public static void Multiply(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        Span<float> c, int ldc, int m, int n, int k, GemmOptions options = GemmOptions.None)
        => Multiply(a, lda, b, ldb, bias, c, ldc, m, n, k, options, BestIsa);

    /// <summary>
    /// As <see cref="Multiply(ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, Span{float}, int, int, int, int, GemmOptions)"/>,
    /// skipping depth steps where op(A) is zero: tile t (rows 5t..5t+4 of op(A)) visits only the p listed in
    /// <c>depthLists[t·k .. t·k + depthCounts[t])</c>, ascending, which must include every p where one of its rows is
    /// non-zero (see <see cref="ActiveDepth"/>). A skipped step would add
    /// exactly ±0, so the result is the dense one.
    /// </summary>
    public static void MultiplySparse(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        Span<float> c, int ldc, int m, int n, int k, GemmOptions options, ReadOnlySpan<int> depthLists, ReadOnlySpan<int> depthCounts)
    {
        CheckDepthLists(m, k, depthLists, depthCounts);
        Multiply(a, lda, b, ldb, bias, c, ldc, m, n, k, options, BestIsa, depthLists, depthCounts);
    }

    /// <summary>
    /// C = op(A)·B (a weight gradient g), and in the same pass, once each element of g is final, momentum SGD on
    /// the weights W and momentum V laid out like C: <c>v = μ·v + (g + λ·w); w = w − η·v</c>, the same operations
    /// as <c>Sgd.Update</c>, so the result is bit for bit that of a separate update, without reading g back (and,
    /// unless the epilogue keeps it, without writing its final value either).
    /// Depth masks and a byte-valued A are optional, as for the internal Multiply (see the comment there).
    /// </summary>
    internal static void MultiplyWithSgd(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc,
        int m, int n, int k, GemmOptions options, ReadOnlySpan<ulong> depthMasks, Span<float> w, Span<float> v, SgdRule sgd,
        ReadOnlySpan<byte> aBytes = default, ReadOnlySpan<float> byteValues = default)
    {
        long needC = m == 0 || n == 0 ? 0 : (long)(m - 1) * ldc + n;
        if (w.Length < needC || v.Length < needC) throw new ArgumentException($"W and V must hold {needC} floats laid out like C.");
        Multiply(a, lda, b, ldb, default, c, ldc, m, n, k, options, BestIsa, default, default, w, v, sgd, depthMasks: depthMasks,
            aBytes: aBytes, byteValues: byteValues);
    }

    private static void CheckDepthLists(int m, int k, ReadOnlySpan<int> depthLists, ReadOnlySpan<int> depthCounts)
    {
        int tiles = (m + TileRows - 1) / TileRows;
        if (depthCounts.Length < tiles || depthLists.Length < (long)tiles * k)
            throw new ArgumentException($"Depth lists must cover {tiles} tiles of {k} entries.", nameof(depthLists));
        for (int t = 0; t < tiles; t++)
        {
            int count = depthCounts[t], previous = -1;
            if ((uint)count > (uint)k) throw new ArgumentOutOfRangeException(nameof(depthCounts), $"tile {t} lists {count} steps; the depth is {k}.");
            foreach (int p in depthLists.Slice(t * k, count))
            {
                if (p <= previous || p >= k) throw new ArgumentException($"tile {t}: depth list not ascending within 0-{k - 1}.", nameof(depthLists));
                previous = p;
            }
        }
    }

    // With depthMasks (instead of lists), each tile finds its depth steps per depth block from the masks of op(A)'s
    // non-zeros (ActiveDepth): for A read row by row, A's row masks (NonZeroMasks, MaskWords(k) words a row), a tile
    // visiting the steps where one of its rows is non-zero; for TransposeA, A's tile-mask table (TileMasks over A's k
    // rows), a tile visiting the rows of A where one of its columns is. The masks are trusted, as lists are.
    internal static void Multiply(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        Span<float> c, int ldc, int m, int n, int k, GemmOptions options, GemmIsa isa,
        ReadOnlySpan<int> depthLists = default, ReadOnlySpan<int> depthCounts = default,
        Span<float> w = default, Span<float> v = default, SgdRule sgd = default, ReadOnlySpan<float> gate = default,
        ReadOnlySpan<ulong> depthMasks = default, ReadOnlySpan<byte> aBytes = default, ReadOnlySpan<float> byteValues = default)
    {
        // A as bytes (MNIST pixels): element (i, p) is byteValues[aBytes[...]], laid out as A would be; `a` is not read.
        bool bytes = !aBytes.IsEmpty || !byteValues.IsEmpty;
        if (bytes && byteValues.Length < 256) throw new ArgumentException("byteValues must give a value for each of the 256 bytes.", nameof(byteValues));
        CheckArguments(bytes ? default : a, lda, b, ldb, bias, c, ldc, m, n, k, options, bytes ? aBytes.Length : -1);
        if (!gate.IsEmpty && gate.Length < (long)(m - 1) * ldc + n) throw new ArgumentException("gate must be laid out like C.", nameof(gate));
        bool byTile = (options & GemmOptions.TransposeA) != 0;
        int maskStride = byTile ? ActiveDepth.TileStride(k) : ActiveDepth.MaskWords(k);
        if (!depthMasks.IsEmpty && depthMasks.Length < (byTile ? (long)ActiveDepth.TileWords(m) * maskStride : (long)m * maskStride))
            throw new ArgumentException("depthMasks is too short for the product.", nameof(depthMasks));
        if (m == 0 || n == 0) return;
        if (isa == GemmIsa.Avx512 && !Avx512F.IsSupported || isa == GemmIsa.Avx2 && !(Avx2.IsSupported && Fma.IsSupported))
            throw new PlatformNotSupportedException($"{isa} is not supported on this processor.");
        bool sparse = !depthCounts.IsEmpty;
        fixed (float* pa = a, pb = b, pbias = bias, pc = c, pw = w, pv = v, pg = gate)
        fixed (int* lists = depthLists, counts = depthCounts)
        fixed (ulong* masks = depthMasks)
        fixed (byte* pa8 = aBytes)
        fixed (float* pvalues = byteValues)
        {
            var args = new Operands(pa, lda, pb, ldb, bias.IsEmpty ? null : pbias, pc, ldc, k, options)
            {
                A8 = bytes ? pa8 : null, ByteValues = pvalues,
                W = pw, V = pv, Update = !w.IsEmpty, KeepGradient = sgd.KeepGradient, Sgd = sgd, Gate = gate.IsEmpty ? null : pg,
                Masks = depthMasks.IsEmpty ? null : masks, MaskStride = maskStride, MasksByTile = byTile,
            };
            switch (isa)
            {
                case GemmIsa.Avx512 when bytes: Blocked<Simd512, Vector512<float>, BytesA>(args, m, n, sparse ? lists : null, counts); break;
                case GemmIsa.Avx512: Blocked<Simd512, Vector512<float>, FloatsA>(args, m, n, sparse ? lists : null, counts); break;
                case GemmIsa.Avx2 when bytes: Blocked<Simd256, Vector256<float>, BytesA>(args, m, n, sparse ? lists : null, counts); break;
                case GemmIsa.Avx2: Blocked<Simd256, Vector256<float>, FloatsA>(args, m, n, sparse ? lists : null, counts); break;
                case GemmIsa.Scalar when bytes: Scalar<BytesA>(args, m, n); break;
                default: Scalar<FloatsA>(args, m, n); break; // dense: skipping zeros is only a shortcut
            }
        }
    }

    /// <summary>The reference: a plain triple loop with the same operation order. Test oracle only.</summary>
    public static void MultiplyNaive(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        Span<float> c, int ldc, int m, int n, int k, GemmOptions options = GemmOptions.None)
    {
        CheckArguments(a, lda, b, ldb, bias, c, ldc, m, n, k, options);
        bool transposeA = (options & GemmOptions.TransposeA) != 0;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float acc = Initial(c[i * ldc + j], bias.IsEmpty ? 0f : bias[j], options, !bias.IsEmpty);
                for (int p = 0; p < k; p++)
                    acc = MathF.FusedMultiplyAdd(transposeA ? a[p * lda + i] : a[i * lda + p], b[p * ldb + j], acc);
                c[i * ldc + j] = (options & GemmOptions.Relu) != 0 ? MathF.Max(acc, 0f) : acc;
            }
        }
    }

    private static float Initial(float c, float bias, GemmOptions options, bool hasBias)
    {
        bool accumulate = (options & GemmOptions.Accumulate) != 0;
        return accumulate && hasBias ? c + bias : accumulate ? c : hasBias ? bias : 0f;
    }

    // aLength: the length of A when it is not `a` (bytes), else −1.
    private static void CheckArguments(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> c, int ldc, int m, int n, int k, GemmOptions options, int aLength = -1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        bool transposeA = (options & GemmOptions.TransposeA) != 0;
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, Math.Max(1, transposeA ? m : k));
        ArgumentOutOfRangeException.ThrowIfLessThan(ldb, Math.Max(1, n));
        ArgumentOutOfRangeException.ThrowIfLessThan(ldc, Math.Max(1, n));
        if (m == 0 || n == 0) return;
        long needA = k == 0 ? 0 : transposeA ? (long)(k - 1) * lda + m : (long)(m - 1) * lda + k;
        long needB = k == 0 ? 0 : (long)(k - 1) * ldb + n;
        long needC = (long)(m - 1) * ldc + n;
        int haveA = aLength >= 0 ? aLength : a.Length;
        if (haveA < needA) throw new ArgumentException($"A holds {haveA} elements; this product reads {needA}.", nameof(a));
        if (b.Length < needB) throw new ArgumentException($"B holds {b.Length} floats; this product reads {needB}.", nameof(b));
        if (c.Length < needC) throw new ArgumentException($"C holds {c.Length} floats; this product writes {needC}.", nameof(c));
        if (!bias.IsEmpty && bias.Length < n) throw new ArgumentException($"bias holds {bias.Length} floats; expected {n}.", nameof(bias));
    }

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
        // Momentum SGD applied to W and V (laid out like C) when C's values are final; see SgdRule.
        public float* W;
        public float* V;
        public bool Update;
        public bool KeepGradient;
        public SgdRule Sgd;
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blocked<TS, TV, TA>(in Operands x, int m, int n, int* lists, int* counts)
        where TS : struct, ISimd<TV> where TV : struct where TA : struct, IElementsA
    {
        int width = TS.TileVectors * TS.Count;
        int tiles = (m + TileRows - 1) / TileRows;
        int* cursor = stackalloc int[lists == null ? 1 : tiles];
        // With masks: the current tile's depth steps within the current block.
        int blockDepth = x.Masks == null ? DepthBlock : MaskDepthBlock;
        int* buffer = stackalloc int[x.Masks == null ? 1 : blockDepth];
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
                    int rows = Math.Min(TileRows, m - i);
                    if (rows == TileRows && columns == width)
                        FullTile<TS, TV, FullWidth, TA>(block, i, j, list, count);
                    else
                    {
                        // A panel of 32 or more columns (conv1's 32 channels, a 32-column share) still gets 10
                        // accumulators: enough to hide the FMA latency, where an edge tile's 5 are not.
                        int jj = j;
                        if (rows == TileRows && TS.TileVectors == 4 && columns >= width / 2)
                        {
                            FullTile<TS, TV, HalfWidth, TA>(block, i, j, list, count);
                            jj += width / 2;
                        }
                        for (; jj < j + columns; jj += TS.Count)
                            EdgeTile<TS, TV, TA>(block, i, jj, rows, Math.Min(TS.Count, j + columns - jj), list, count);
                    }
                }
                p0 += blockDepth;
            }
            while (p0 < x.K);
        }
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        TV v = x.Sgd.Velocity<TS, TV>(w, g, TS.Load(x.V + at));
        TS.Store(x.V + at, v);
        TS.Store(x.W + at, x.Sgd.Weight<TS, TV>(w, v));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreMasked<TS, TV>(in Operands x, nint at, TV mask, TV g) where TS : struct, ISimd<TV> where TV : struct
    {
        if (x.Gate != null) g = TS.WherePositive(g, TS.LoadMasked(x.Gate + at, mask));
        if (!x.Update || x.KeepGradient) TS.StoreMasked(x.C + at, mask, g);
        if (!x.Update) return;
        TV w = TS.LoadMasked(x.W + at, mask);
        TV v = x.Sgd.Velocity<TS, TV>(w, g, TS.LoadMasked(x.V + at, mask));
        TS.StoreMasked(x.V + at, mask, v);
        TS.StoreMasked(x.W + at, mask, x.Sgd.Weight<TS, TV>(w, v));
    }

    // Up to 5 rows × one vector of up to Count columns, with masked loads and stores so that
    // nothing outside C or B is touched: the edges of any shape (1×1, 5×63, 101×785, ...).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
                for (int j = 0; j < n; j++) (w[j], v[j]) = x.Sgd.Apply(w[j], c[j], v[j]);
            }
        }
    }

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

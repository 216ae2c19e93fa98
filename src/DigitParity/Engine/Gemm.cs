using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DigitParity.Engine;

/// <summary>
/// Single-precision matrix multiply over flat row-major buffers:
/// <c>C (m × n) = [C +] [bias +] op(A) (m × k) · B (k × n)</c>, then optionally ReLU.
/// Every element is computed as <c>acc = init; for p in 0..k: acc = fma(A[i,p], B[p,j], acc)</c>, in that order,
/// by every path — register-blocked AVX-512, AVX2, scalar, and the naive reference — so all of them agree bit for bit
/// and results do not depend on how columns are split between threads.
/// </summary>
internal static unsafe partial class Gemm
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
        => Multiply(new GemmProduct(a, lda, b, ldb, c, ldc, m, n, k, options) { Bias = bias });

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
        Multiply(new GemmProduct(a, lda, b, ldb, c, ldc, m, n, k, options) { Bias = bias, DepthLists = depthLists, DepthCounts = depthCounts });
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

    /// <summary>The product as described, on the best instruction set of this machine.</summary>
    internal static void Multiply(in GemmProduct product) => Multiply(product, BestIsa);

    /// <summary>
    /// <paramref name="count"/> dense products of one shape, product i reading A, B and writing C
    /// <paramref name="strideA"/>·i, <paramref name="strideB"/>·i and <paramref name="strideC"/>·i floats further on
    /// (Winograd's 64 products a chunk). The arguments are checked once, for the first and the last product (the others
    /// lie between them); each product is the one <see cref="Multiply(in GemmProduct, GemmIsa)"/> computes.
    /// </summary>
    internal static void MultiplyStrided(in GemmProduct x, int count, int strideA, int strideB, int strideC)
    {
        if (count <= 0) return;
        ArgumentOutOfRangeException.ThrowIfNegative(strideA);
        ArgumentOutOfRangeException.ThrowIfNegative(strideB);
        ArgumentOutOfRangeException.ThrowIfNegative(strideC);
        if (!x.ABytes.IsEmpty || !x.DepthMasks.IsEmpty || !x.DepthCounts.IsEmpty || !x.UpdateWeights.IsEmpty || !x.Gate.IsEmpty || !x.Bias.IsEmpty)
            throw new ArgumentException("Strided products are plain dense products: no bytes, masks, lists, update, gate or bias.");
        int m = x.M, n = x.N, k = x.K;
        long last = count - 1;
        CheckArguments(x.A, x.Lda, x.B, x.Ldb, default, x.C, x.Ldc, m, n, k, x.Options, -1);
        if (last > 0)
            CheckArguments(x.A[checked((int)(last * strideA))..], x.Lda, x.B[checked((int)(last * strideB))..], x.Ldb, default, x.C[checked((int)(last * strideC))..],
                x.Ldc, m, n, k, x.Options, -1);
        if (m == 0 || n == 0) return;
        var isa = BestIsa;
        fixed (float* pa = x.A, pb = x.B, pc = x.C)
            for (int i = 0; i < count; i++)
            {
                var args = new Operands(pa + (nint)i * strideA, x.Lda, pb + (nint)i * strideB, x.Ldb, null, pc + (nint)i * strideC, x.Ldc, k, x.Options);
                switch (isa)
                {
                    case GemmIsa.Avx512: Blocked<Simd512, Vector512<float>, FloatsA>(args, m, n, null, null); break;
                    case GemmIsa.Avx2: Blocked<Simd256, Vector256<float>, FloatsA>(args, m, n, null, null); break;
                    default: Scalar<FloatsA>(args, m, n); break;
                }
            }
    }

    /// <summary>
    /// The product as described, on <paramref name="isa"/>. Shapes and lengths are checked; depth masks and lists are
    /// trusted (they are built in the same step, and checking each entry cost as much as 10 % of fc1's products).
    /// A fused update gives bit for bit what a separate <c>Sgd.Update</c> of the stored gradient would.
    /// </summary>
    internal static void Multiply(in GemmProduct x, GemmIsa isa)
    {
        int m = x.M, n = x.N, k = x.K;
        bool bytes = !x.ABytes.IsEmpty || !x.ByteValues.IsEmpty;
        if (bytes && x.ByteValues.Length < 256) throw new ArgumentException("ByteValues must give a value for each of the 256 bytes.");
        CheckArguments(bytes ? default : x.A, x.Lda, x.B, x.Ldb, x.Bias, x.C, x.Ldc, m, n, k, x.Options, bytes ? x.ABytes.Length : -1);
        long needC = m == 0 || n == 0 ? 0 : (long)(m - 1) * x.Ldc + n;
        if (!x.Gate.IsEmpty && x.Gate.Length < needC) throw new ArgumentException("The gate must be laid out like C.");
        bool update = !x.UpdateWeights.IsEmpty;
        if (update && (x.UpdateWeights.Length < needC || x.UpdateVelocity.Length < needC))
            throw new ArgumentException($"The update's W and V must hold {needC} floats laid out like C.");
        bool byTile = (x.Options & GemmOptions.TransposeA) != 0;
        int maskStride = byTile ? ActiveDepth.TileStride(k) : ActiveDepth.MaskWords(k);
        if (!x.DepthMasks.IsEmpty && x.DepthMasks.Length < (byTile ? (long)ActiveDepth.TileWords(m) * maskStride : (long)m * maskStride))
            throw new ArgumentException("The depth masks are too short for the product.");
        if (m == 0 || n == 0) return;
        if (isa == GemmIsa.Avx512 && !Avx512F.IsSupported || isa == GemmIsa.Avx2 && !(Avx2.IsSupported && Fma.IsSupported))
            throw new PlatformNotSupportedException($"{isa} is not supported on this processor.");
        bool sparse = !x.DepthCounts.IsEmpty;
        fixed (float* pa = x.A, pb = x.B, pbias = x.Bias, pc = x.C, pw = x.UpdateWeights, pv = x.UpdateVelocity, pg = x.Gate)
        fixed (int* lists = x.DepthLists, counts = x.DepthCounts)
        fixed (ulong* masks = x.DepthMasks)
        fixed (byte* pa8 = x.ABytes)
        fixed (float* pvalues = x.ByteValues)
        {
            var args = new Operands(pa, x.Lda, pb, x.Ldb, x.Bias.IsEmpty ? null : pbias, pc, x.Ldc, k, x.Options)
            {
                A8 = bytes ? pa8 : null, ByteValues = pvalues,
                W = pw, V = pv, Update = update, KeepGradient = x.Step.KeepGradient, Step = x.Step, Gate = x.Gate.IsEmpty ? null : pg,
                Masks = x.DepthMasks.IsEmpty ? null : masks, MaskStride = maskStride, MasksByTile = byTile,
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
}

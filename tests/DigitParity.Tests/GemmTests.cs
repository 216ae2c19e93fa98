using System.Runtime.Intrinsics.X86;
using DigitParity.Engine;

namespace DigitParity.Tests;

public sealed class GemmTests
{
    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 1, 1, 1 }, { 5, 63, 7 }, { 101, 785, 13 }, { 100, 128, 784 }, { 784, 64, 100 },
        { 4, 17, 300 }, { 13, 12, 64 }, { 6, 65, 129 }, { 3, 5, 0 }, { 10, 32, 50 }, { 12, 40, 9 }, { 11, 96, 33 },
        // fewer rows than a tile: one row in 8-vector tiles, 2-4 rows in 2-vector tiles, both over several depth blocks
        { 1, 200, 70 }, { 1, 129, 300 }, { 2, 40, 33 }, { 3, 33, 20 }, { 4, 64, 300 }, { 4, 100, 7 },
    };

    internal static IEnumerable<GemmIsa> AvailableIsas()
    {
        yield return GemmIsa.Scalar;
        if (Avx2.IsSupported && Fma.IsSupported) yield return GemmIsa.Avx2;
        if (Avx512F.IsSupported) yield return GemmIsa.Avx512;
    }

    // Every path performs the same fma sequence per element, so the fast kernels must equal the naive loop bit for bit.
    [Theory]
    [MemberData(nameof(Shapes))]
    public void EveryKernelMatchesTheNaiveReferenceExactly(int m, int n, int k)
    {
        var rng = new Rng(42);
        foreach (var options in new[] { GemmOptions.None, GemmOptions.Relu, GemmOptions.Accumulate, GemmOptions.TransposeA, GemmOptions.TransposeA | GemmOptions.Accumulate | GemmOptions.Relu })
        {
            foreach (bool withBias in new[] { false, true })
            {
                bool transpose = (options & GemmOptions.TransposeA) != 0;
                int lda = (transpose ? m : k) + 3, ldb = n + 1, ldc = n + 2;
                float[] a = Random(rng, (transpose ? k : m) * lda + 1);
                float[] b = Random(rng, Math.Max(k, 1) * ldb);
                float[] bias = withBias ? Random(rng, n) : [];
                float[] initial = Random(rng, m * ldc);
                float[] expected = initial.ToArray();
                Gemm.MultiplyNaive(a, lda, b, ldb, bias, expected, ldc, m, n, k, options);
                foreach (var isa in AvailableIsas())
                {
                    float[] actual = initial.ToArray();
                    Gemm.Multiply(new GemmProduct(a, lda, b, ldb, actual, ldc, m, n, k, options) { Bias = bias }, isa);
                    Assert.True(expected.AsSpan().SequenceEqual(actual), $"{isa} differs for {m}x{n}x{k} {options} bias={withBias}");
                }
            }
        }
    }

    // Mostly-zero products: fc1 forward and weight gradient, and shapes with partial tiles and depths (m, n, k, A stored transposed).
    public static TheoryData<int, int, int, bool> SparseShapes() => new()
    {
        { 100, 64, 784, false }, { 784, 64, 100, true }, { 23, 70, 131, false }, { 131, 21, 23, true }, { 797, 20, 37, true },
    };

    [Theory]
    [MemberData(nameof(SparseShapes))]
    public void SparseDepthListsGiveExactlyTheDenseProduct(int m, int n, int k, bool transpose)
    {
        // Mostly-zero A, like MNIST pixels: the sparse kernel must skip only zero contributions.
        var rng = new Rng(21);
        int lda = transpose ? m : k;
        float[] a = Random(rng, m * k);
        for (int i = 0; i < a.Length; i++) if (rng.NextFloat() < 0.8f) a[i] = 0f;
        float[] b = Random(rng, k * n), bias = Random(rng, n);
        int tiles = ActiveDepth.Tiles(m);
        int[] lists = new int[tiles * k], counts = new int[tiles];
        if (transpose)
        {
            var masks = new ulong[k * ActiveDepth.MaskWords(m)];
            ActiveDepth.NonZeroMasks(a, lda, m, 0, k, masks);
            var tileMasks = new ulong[ActiveDepth.TileWords(m) * ActiveDepth.TileStride(k)];
            ActiveDepth.TileMasks(masks, m, k, 0, k / 2, tileMasks);
            ActiveDepth.TileMasks(masks, m, k, k / 2, k, tileMasks);
            ActiveDepth.ForColumns(tileMasks, m, k, lists, counts, 0, tiles / 2);
            ActiveDepth.ForColumns(tileMasks, m, k, lists, counts, tiles / 2, tiles);
        }
        else
        {
            var masks = new ulong[m * ActiveDepth.MaskWords(k)];
            ActiveDepth.NonZeroMasks(a, lda, k, 0, m / 2, masks);
            ActiveDepth.NonZeroMasks(a, lda, k, m / 2, m, masks);
            ActiveDepth.ForRows(masks, m, k, lists, counts, 0, tiles);
        }

        // The lists are exactly the depth steps where some row of the tile is non-zero.
        for (int t = 0; t < tiles; t++)
        {
            var expected = Enumerable.Range(0, k).Where(p => Enumerable.Range(t * 5, Math.Min(5, m - t * 5))
                .Any(i => (transpose ? a[p * lda + i] : a[i * lda + p]) != 0f));
            Assert.Equal(expected, lists.AsSpan(t * k, counts[t]).ToArray());
        }
        var options = (transpose ? GemmOptions.TransposeA : GemmOptions.None) | GemmOptions.Relu;
        float[] dense = new float[m * n], sparse = new float[m * n];
        Gemm.MultiplyNaive(a, lda, b, n, bias, dense, n, m, n, k, options);
        Gemm.MultiplySparse(a, lda, b, n, bias, sparse, n, m, n, k, options, lists, counts);
        Assert.True(dense.AsSpan().SequenceEqual(sparse));
    }

    // With masks instead of lists, each tile lists its depth steps per depth block as it goes (fc1's products): the result
    // must still be the dense product bit for bit, on every ISA, for depths over several blocks whose last ends inside
    // a mask word, tiles cut short by the rows, strided A, and the SGD epilogue.
    // Strided products (Winograd's 64 a chunk) are each the single product, bit for bit, and a batch whose last product
    // would run past a span is refused before anything is written.
    [Theory]
    [InlineData(4, 32, 32)]
    [InlineData(1, 24, 16)]
    [InlineData(7, 13, 5)]
    public void StridedProductsAreEachTheSingleProduct(int m, int n, int k)
    {
        const int count = 6, lda = 40, ldb = 48, ldc = 56;
        var rng = new Rng(31);
        int strideA = m * lda, strideB = k * ldb, strideC = m * ldc;
        float[] a = Random(rng, count * strideA), b = Random(rng, count * strideB);
        var strided = new float[count * strideC];
        var single = new float[strided.Length];
        Gemm.MultiplyStrided(new GemmProduct(a, lda, b, ldb, strided, ldc, m, n, k), count, strideA, strideB, strideC);
        for (int i = 0; i < count; i++)
            Gemm.Multiply(a.AsSpan(i * strideA), lda, b.AsSpan(i * strideB), ldb, default, single.AsSpan(i * strideC), ldc, m, n, k);
        Assert.Equal(single, strided);
        var untouched = new float[strided.Length];
        Assert.Throws<ArgumentException>(() => Gemm.MultiplyStrided(new GemmProduct(a, lda, b, ldb, untouched, ldc, m, n, k), count + 1, strideA, strideB, strideC));
        Assert.All(untouched, v => Assert.Equal(0f, v));
    }

    [Theory]
    [MemberData(nameof(SparseShapes))]
    [InlineData(7, 64, 300, false)]
    [InlineData(12, 64, 1000, true)]
    [InlineData(11, 70, 2500, false)] // three depth blocks, the last ending inside a mask word
    [InlineData(9, 20, 1100, true)]
    [InlineData(1, 128, 1024, false)] // a batch of one (the CNN's fc1)
    [InlineData(4, 70, 300, false)]
    [InlineData(2, 20, 1100, false)] // more than one depth block: tile by tile
    public void SparseDepthMasksGiveExactlyTheDenseProduct(int m, int n, int k, bool transpose)
    {
        var rng = new Rng(23);
        int lda = (transpose ? m : k) + 3;
        float[] a = Random(rng, (transpose ? k : m) * lda);
        for (int i = 0; i < a.Length; i++) if (rng.NextFloat() < 0.8f) a[i] = 0f;
        float[] b = Random(rng, k * n), bias = Random(rng, n);
        ulong[] masks = DepthMasks(a, lda, m, k, transpose);
        var options = transpose ? GemmOptions.TransposeA : GemmOptions.Relu;
        float[] dense = new float[m * n];
        Gemm.MultiplyNaive(a, lda, b, n, transpose ? default : bias, dense, n, m, n, k, options);
        foreach (var isa in AvailableIsas())
        {
            float[] sparse = new float[m * n];
            Gemm.Multiply(new GemmProduct(a, lda, b, n, sparse, n, m, n, k, options) { Bias = transpose ? default : bias, DepthMasks = masks }, isa);
            Assert.True(dense.AsSpan().SequenceEqual(sparse), $"{isa}");
        }
        // Too short a table is refused, not read past its end.
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(new GemmProduct(a, lda, b, n, new float[m * n], n, m, n, k, options)
        {
            DepthMasks = masks.AsSpan(0, masks.Length - 1),
        }));
        if (!transpose) return;
        // The weight-gradient product with momentum SGD folded in: the same weights as the dense gradient then the update.
        var sgd = new MomentumStep(0.1f, 0.9f, 1e-3f, KeepGradient: false);
        float[] w = Random(rng, m * n), v = Random(rng, m * n), wf = w.ToArray(), vf = v.ToArray();
        for (int i = 0; i < w.Length; i++) (w[i], v[i]) = sgd.Apply(w[i], dense[i], v[i]);
        Gemm.Multiply(new GemmProduct(a, lda, b, n, new float[m * n], n, m, n, k, options)
        {
            DepthMasks = masks, UpdateWeights = wf, UpdateVelocity = vf, Step = sgd,
        });
        Assert.Equal(w, wf);
        Assert.Equal(v, vf);
    }

    // The masks a product over op(A) (m × k) skips zeros by: A's row masks, or for A stored transposed (k × m) the
    // table of its rows' tiles of 5 columns.
    private static ulong[] DepthMasks(float[] a, int lda, int m, int k, bool transpose)
    {
        if (!transpose)
        {
            var masks = new ulong[m * ActiveDepth.MaskWords(k)];
            ActiveDepth.NonZeroMasks(a, lda, k, 0, m, masks);
            return masks;
        }
        var rows = new ulong[k * ActiveDepth.MaskWords(m)];
        ActiveDepth.NonZeroMasks(a, lda, m, 0, k, rows);
        var tiles = new ulong[ActiveDepth.TileWords(m) * ActiveDepth.TileStride(k)];
        ActiveDepth.TileMasks(rows, m, k, 0, k, tiles);
        return tiles;
    }

    // A given as bytes with a table of their values (fc1 reading pixel bytes) must give the bits of the same product over
    // the values as floats: every ISA, row masks or tile masks, and the SGD epilogue.
    [Theory]
    [InlineData(100, 64, 784, false)]
    [InlineData(784, 64, 100, true)]
    [InlineData(23, 70, 131, false)]
    [InlineData(131, 21, 23, true)]
    public void ByteValuedAGivesTheBitsOfItsFloats(int m, int n, int k, bool transpose)
    {
        var rng = new Rng(29);
        int lda = transpose ? m : k;
        byte[] a8 = new byte[(transpose ? k : m) * lda];
        for (int i = 0; i < a8.Length; i++) a8[i] = rng.NextFloat() < 0.75f ? (byte)0 : (byte)(rng.NextFloat() * 255.99f);
        float[] values = Random(rng, 256);
        values[0] = 0f; // the zero byte is the value masks skip
        float[] a = a8.Select(v => values[v]).ToArray(), b = Random(rng, k * n), bias = Random(rng, n);
        ulong[] masks = DepthMasks(a, lda, m, k, transpose);
        var options = transpose ? GemmOptions.TransposeA : GemmOptions.Relu;
        float[] expected = new float[m * n];
        Gemm.MultiplyNaive(a, lda, b, n, transpose ? default : bias, expected, n, m, n, k, options);
        foreach (var isa in AvailableIsas())
            foreach (bool sparse in new[] { false, true })
            {
                float[] actual = new float[m * n];
                Gemm.Multiply(new GemmProduct(default, lda, b, n, actual, n, m, n, k, options)
                {
                    Bias = transpose ? default : bias, DepthMasks = sparse ? masks : default, ABytes = a8, ByteValues = values,
                }, isa);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{isa} sparse={sparse}");
            }
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(new GemmProduct(default, lda, b, n, new float[m * n], n, m, n, k, options)
        {
            ABytes = a8, ByteValues = values.AsSpan(0, 255),
        }));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(new GemmProduct(default, lda, b, n, new float[m * n], n, m, n, k, options)
        {
            ABytes = a8.AsSpan(0, a8.Length - 1), ByteValues = values,
        }));
        if (!transpose) return;
        var sgd = new MomentumStep(0.1f, 0.9f, 1e-3f, KeepGradient: false);
        float[] w = Random(rng, m * n), v = Random(rng, m * n), wf = w.ToArray(), vf = v.ToArray();
        for (int i = 0; i < w.Length; i++) (w[i], v[i]) = sgd.Apply(w[i], expected[i], v[i]);
        Gemm.Multiply(new GemmProduct(default, lda, b, n, new float[m * n], n, m, n, k, options)
        {
            DepthMasks = masks, ABytes = a8, ByteValues = values, UpdateWeights = wf, UpdateVelocity = vf, Step = sgd,
        });
        Assert.Equal(w, wf);
        Assert.Equal(v, vf);
    }

    // Each row visiting only its own non-zero columns (the conv gradient after max pooling) must give the dense product's
    // bits, on every ISA, for widths with a masked tail and depths over one 64-bit mask word.
    [Theory]
    [InlineData(7, 800, 64)] // AVX-512: 5 blocks of 8 vectors and one of 10
    [InlineData(6, 80, 40)] // AVX2: one block of 10 vectors
    [InlineData(4, 96, 33)] // AVX-512: 4 + 2 vectors; AVX2: 8 + 4 vectors
    [InlineData(5, 37, 70)]
    [InlineData(3, 130, 9)]
    public void SparseRowsEqualTheDenseProductBitForBit(int m, int n, int k)
    {
        var rng = new Rng(31);
        float[] a = Random(rng, m * k), b = Random(rng, k * n);
        for (int i = 0; i < a.Length; i++) if (rng.NextUniform(1f) < 0.7f) a[i] = 0f; // ~85 % zeros
        a.AsSpan(0, k).Clear(); // a row with nothing to visit
        float[] dense = new float[m * n];
        Gemm.MultiplyNaive(a, k, b, n, default, dense, n, m, n, k);
        var (lists, counts) = RowLists(a, m, k);
        for (int i = 0; i < m; i++)
            Assert.Equal(Enumerable.Range(0, k).Where(p => a[i * k + p] != 0f), lists.AsSpan(i * k, counts[i]).ToArray());
        EveryIsaGives(dense, (isa, sparse) =>
        {
            unsafe
            {
                fixed (float* pa = a, pb = b, pc = sparse)
                fixed (int* pl = lists, pn = counts)
                    SparseRows.Multiply(pa, k, pl, k, pn, m, pb, n, pc, n, n, isa);
            }
        });
    }

    // Each row's non-zero columns of a (m × k) as SparseRows takes them, from the masks the products use.
    private static (int[] Lists, int[] Counts) RowLists(float[] a, int m, int k)
    {
        int words = ActiveDepth.MaskWords(k);
        var masks = new ulong[m * words];
        ActiveDepth.NonZeroMasks(a, k, k, 0, m, masks);
        int[] lists = new int[m * k], counts = new int[m];
        SparseRows.List(masks, words, 0, m, lists, k, counts);
        return (lists, counts);
    }

    // Accumulating, each row's chain starts from the value already in C: a bias put there gives the bits of the dense
    // product's chain from the bias.
    [Theory]
    [InlineData(6, 64, 784)] // fc1's panel: AVX2 one block of 8 vectors, AVX-512 one of 4
    [InlineData(4, 37, 70)]
    public void SparseRowsAccumulateFromCLikeTheDenseProductFromTheBias(int m, int n, int k)
    {
        var rng = new Rng(32);
        float[] a = Random(rng, m * k), b = Random(rng, k * n), bias = Random(rng, n);
        for (int i = 0; i < a.Length; i++) if (rng.NextUniform(1f) < 0.7f) a[i] = 0f;
        float[] dense = new float[m * n];
        Gemm.MultiplyNaive(a, k, b, n, bias, dense, n, m, n, k);
        var (lists, counts) = RowLists(a, m, k);
        foreach (var isa in AvailableIsas())
        {
            float[] sparse = new float[m * n];
            for (int i = 0; i < m; i++) bias.CopyTo(sparse, i * n);
            unsafe
            {
                fixed (float* pa = a, pb = b, pc = sparse)
                fixed (int* pl = lists, pn = counts)
                    SparseRows.Multiply(pa, k, pl, k, pn, m, pb, n, pc, n, n, isa, accumulate: true);
            }
            Assert.True(dense.AsSpan().SequenceEqual(sparse), $"{isa}");
        }
    }

    // fc1's two panels of 64 columns in one visit of each row's list, rows in pairs over the union of their lists (7
    // rows: three pairs and a lone one): the dense product's chain from the bias, for the 128 columns of the two
    // panels, which lie apart in B (each (k, 64), the second panelStride floats on).
    [Fact]
    public void PanelPairsAccumulateLikeTheDenseProductFromTheBias()
    {
        if (!System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) return; // only AVX-512 takes panels in pairs
        const int m = 7, k = 150, n = 128, panelStride = k * 64 + 16;
        var rng = new Rng(33);
        float[] a = Random(rng, m * k), b = Random(rng, k * n), bias = Random(rng, n);
        for (int i = 0; i < a.Length; i++) if (rng.NextUniform(1f) < 0.7f) a[i] = 0f;
        float[] dense = new float[m * n];
        Gemm.MultiplyNaive(a, k, b, n, bias, dense, n, m, n, k);
        float[] panels = new float[panelStride + k * 64];
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++) panels[(j < 64 ? 0 : panelStride) + p * 64 + j % 64] = b[p * n + j];
        var (lists, counts) = RowLists(a, m, k);
        float[] sparse = new float[m * n];
        for (int i = 0; i < m; i++) bias.CopyTo(sparse, i * n);
        unsafe
        {
            fixed (float* pa = a, pb = panels, pc = sparse)
            fixed (int* pl = lists, pn = counts)
                SparseRows.MultiplyPanelPair(pa, k, pl, k, pn, m, pb, panelStride, pc, n, accumulate: true);
        }
        Assert.True(dense.AsSpan().SequenceEqual(sparse));
    }

    // Runs a kernel on every ISA into a NaN-filled output 16 floats longer than the product: the product must be
    // expected's bits and the rest untouched.
    private static void EveryIsaGives(float[] expected, Action<GemmIsa, float[]> kernel)
    {
        foreach (var isa in AvailableIsas())
        {
            float[] output = new float[expected.Length + 16];
            output.AsSpan().Fill(float.NaN);
            kernel(isa, output);
            Assert.True(expected.AsSpan().SequenceEqual(output.AsSpan(0, expected.Length)), $"{isa}");
            Assert.All(output.AsSpan(expected.Length).ToArray(), v => Assert.True(float.IsNaN(v), "wrote past the end"));
        }
    }

    // The transposed case (a weight gradient dWᵀ = dyᵀ·cols): per column of A, the rows where it is non-zero; the rows
    // go by in chunks (here as small as 1 and 3 rows, and all at once), the sums carried from chunk to chunk.
    [Theory]
    [InlineData(64, 150, 70, 3)]
    [InlineData(9, 160, 40, 16)] // a run of conv2's window: 10 vectors in one pass (AVX-512)
    [InlineData(5, 80, 30, 7)] // the same for AVX2
    [InlineData(6, 100, 30, 4)] // 4 + 2 vectors and a masked one (AVX-512), 8 + 4 and a masked one (AVX2)
    [InlineData(7, 37, 20, 1)]
    [InlineData(5, 130, 9, 100)]
    public void SparseColumnsEqualTheDenseTransposedProductBitForBit(int m, int n, int k, int chunkRows)
    {
        var rng = new Rng(37);
        float[] a = Random(rng, k * m), b = Random(rng, k * n); // A is k × m, read as Aᵀ
        for (int i = 0; i < a.Length; i++) if (rng.NextUniform(1f) < 0.7f) a[i] = 0f;
        for (int p = 0; p < k; p++) a[p * m] = 0f; // a column with nothing to visit
        float[] dense = new float[m * n];
        Gemm.MultiplyNaive(a, m, b, n, default, dense, n, m, n, k, GemmOptions.TransposeA);
        int words = ActiveDepth.MaskWords(m);
        var masks = new ulong[k * words];
        ActiveDepth.NonZeroMasks(a, m, m, 0, k, masks);
        int[] lists = new int[m * k], counts = new int[m];
        // Two shares of the columns, as two workers list them.
        SparseRows.ListColumns(masks, words, k, 0, m / 2, lists, k, counts);
        SparseRows.ListColumns(masks, words, k, m / 2, m, lists, k, counts);
        for (int i = 0; i < m; i++)
            Assert.Equal(Enumerable.Range(0, k).Where(p => a[p * m + i] != 0f), lists.AsSpan(i * k, counts[i]).ToArray());
        EveryIsaGives(dense, (isa, sparse) =>
        {
            unsafe
            {
                fixed (float* pa = a, pb = b, pc = sparse)
                fixed (int* pl = lists, pn = counts)
                    SparseRows.MultiplyTransposed(new SparseProduct { A = pa, Lda = m, Lists = pl, ListStride = k, Counts = pn, B = pb, Ldb = n, C = pc, Ldc = n, M = m, N = n, K = k },
                        chunkRows, new int[2 * m], isa);
            }
        });
        // B's rows found through a table of offsets (as a convolution reads its windows from its input): here in
        // reverse order with gaps between them.
        int[] offsets = Enumerable.Range(0, k).Select(p => (k - 1 - p) * (n + 3)).ToArray();
        float[] scattered = new float[k * (n + 3)];
        for (int p = 0; p < k; p++) b.AsSpan(p * n, n).CopyTo(scattered.AsSpan(offsets[p]));
        EveryIsaGives(dense, (isa, sparse) =>
        {
            unsafe
            {
                fixed (float* pa = a, pb = scattered, pc = sparse)
                fixed (int* pl = lists, pn = counts, po = offsets)
                    SparseRows.MultiplyTransposed(new SparseProduct { A = pa, Lda = m, Lists = pl, ListStride = k, Counts = pn, B = pb, RowOffsets = po, C = pc, Ldc = n, M = m, N = n, K = k },
                        chunkRows, new int[2 * m], isa);
            }
        });
    }

    [Fact]
    public void SparseRejectsListsThatWouldReadOutOfBounds()
    {
        float[] a = new float[10 * 4], b = new float[4 * 3], c = new float[10 * 3];
        int[] counts = [1, 1];
        Assert.Throws<ArgumentException>(() => Gemm.MultiplySparse(a, 4, b, 3, default, c, 3, 10, 3, 4, GemmOptions.None, new int[8] { 4, 0, 0, 0, 0, 0, 0, 0 }, counts));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.MultiplySparse(a, 4, b, 3, default, c, 3, 10, 3, 4, GemmOptions.None, new int[8], [5, 0]));
        Assert.Throws<ArgumentException>(() => Gemm.MultiplySparse(a, 4, b, 3, default, c, 3, 10, 3, 4, GemmOptions.None, new int[4], counts));
    }

    // dx = dy·Wᵀ through a ReLU, gated in the product's epilogue, must equal the product followed by ReluBackward.
    [Theory]
    [MemberData(nameof(Shapes))]
    public void ReluGateEqualsTheProductThenReluBackward(int m, int n, int k)
    {
        var rng = new Rng(17);
        int lda = k + 1, ldb = n + 3, ldc = n + 2;
        float[] a = Random(rng, m * lda + 1), b = Random(rng, Math.Max(k, 1) * ldb);
        // The gate is a ReLU's output: about half zeros, the rest positive.
        float[] gate = Random(rng, m * ldc).Select(value => MathF.Max(value, 0f)).ToArray();
        float[] product = new float[m * ldc];
        Gemm.MultiplyNaive(a, lda, b, ldb, default, product, ldc, m, n, k);
        float[] expected = new float[m * ldc];
        DigitParity.Model.Activations.ReluBackward(gate, product, expected);
        for (int i = 0; i < m; i++) expected.AsSpan(i * ldc + n, ldc - n).Clear(); // outside C stays untouched (0)
        foreach (var isa in AvailableIsas())
        {
            float[] actual = new float[m * ldc];
            Gemm.Multiply(new GemmProduct(a, lda, b, ldb, actual, ldc, m, n, k) { Gate = gate }, isa);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{isa} differs for {m}x{n}x{k}");
        }
        int tooShort = (m - 1) * ldc + n - 1; // an empty gate means "no gate"
        if (m > 0 && tooShort > 0)
            Assert.Throws<ArgumentException>(() => Gemm.Multiply(new GemmProduct(a, lda, b, ldb, new float[m * ldc], ldc, m, n, k) { Gate = new float[tooShort] }));
    }

    [Theory]
    [InlineData(784, 64, 100)]
    [InlineData(13, 21, 9)]
    public void FusedSgdUpdateEqualsASeparateUpdateBitForBit(int m, int n, int k)
    {
        var rng = new Rng(31);
        float[] a = Random(rng, k * m), b = Random(rng, k * n), w0 = Random(rng, m * n), v0 = Random(rng, m * n);
        var sgd = new MomentumStep(0.1f, 0.9f, 1e-3f);
        float[] g = new float[m * n], w = w0.ToArray(), v = v0.ToArray();
        Gemm.MultiplyNaive(a, m, b, n, default, g, n, m, n, k, GemmOptions.TransposeA);
        DigitParity.Optimizers.Sgd.Update(w, g, v, sgd.LearningRate, sgd.Momentum, sgd.WeightDecay);
        foreach (var isa in AvailableIsas())
        {
            float[] gf = new float[m * n], wf = w0.ToArray(), vf = v0.ToArray();
            Gemm.Multiply(new GemmProduct(a, m, b, n, gf, n, m, n, k, GemmOptions.TransposeA) { UpdateWeights = wf, UpdateVelocity = vf, Step = sgd }, isa);
            Assert.True(g.AsSpan().SequenceEqual(gf), $"{isa}: gradient");
            Assert.True(w.AsSpan().SequenceEqual(wf), $"{isa}: weights");
            Assert.True(v.AsSpan().SequenceEqual(vf), $"{isa}: momentum");
            float[] untouched = new float[m * n], wn = w0.ToArray(), vn = v0.ToArray();
            Gemm.Multiply(new GemmProduct(a, m, b, n, untouched, n, m, n, k, GemmOptions.TransposeA) { UpdateWeights = wn, UpdateVelocity = vn, Step = sgd with { KeepGradient = false } }, isa);
            Assert.True(w.AsSpan().SequenceEqual(wn) && v.AsSpan().SequenceEqual(vn), $"{isa}: update without keeping the gradient");
            if (isa != GemmIsa.Scalar) Assert.All(untouched, value => Assert.Equal(0f, value));
        }
    }

    [Fact]
    public void NaiveReferenceMatchesAHandWorkedProduct()
    {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50], plus bias [1, -100] and ReLU.
        float[] c = new float[4];
        Gemm.MultiplyNaive([1, 2, 3, 4], 2, [5, 6, 7, 8], 2, [1, -100], c, 2, 2, 2, 2, GemmOptions.Relu);
        Assert.Equal(new float[] { 20, 0, 44, 0 }, c);
        Gemm.MultiplyNaive([1, 3, 2, 4], 2, [5, 6, 7, 8], 2, default, c, 2, 2, 2, 2, GemmOptions.TransposeA);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c);
    }

    [Fact]
    public void WritesNothingOutsideTheRequestedBlock()
    {
        float[] c = Enumerable.Repeat(-7f, 10 * 20).ToArray();
        var rng = new Rng(3);
        Gemm.Multiply(Random(rng, 7 * 9), 9, Random(rng, 9 * 20), 20, default, c.AsSpan(20 + 2), 20, 7, 13, 9);
        for (int r = 0; r < 10; r++)
            for (int col = 0; col < 20; col++)
            {
                bool inside = r >= 1 && r < 8 && col >= 2 && col < 15;
                if (!inside) Assert.Equal(-7f, c[r * 20 + col]);
            }
    }

    [Fact]
    public void RejectsBuffersTooShortForTheShape()
    {
        float[] a = new float[6], b = new float[6], c = new float[3];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(a, 3, b, 3, default, c, 3, 2, 3, 2));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(a, 3, b, 3, default, new float[6], 3, 2, 3, 3));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(a, 3, b, 3, new float[2], new float[6], 3, 2, 3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, 1, b, 3, default, new float[6], 3, 2, 3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(a, 3, b, 3, default, c, 3, -1, 3, 2));
    }

    // Scalar rows and columns, whole 8 × 8 blocks (fc2's 128 × 64, the heads' 64 × 12) and strides wider than the shape.
    [Theory]
    [InlineData(11, 13, 13, 12)]
    [InlineData(128, 64, 64, 128)]
    [InlineData(64, 12, 12, 64)]
    [InlineData(37, 29, 33, 41)]
    public void TransposeMatchesDefinition(int rows, int cols, int lds, int ldd)
    {
        var rng = new Rng(5);
        float[] src = Random(rng, (rows - 1) * lds + cols);
        float[] dst = Random(rng, (cols - 1) * ldd + rows), before = dst.ToArray();
        Gemm.Transpose(src, lds, dst, ldd, rows, cols);
        for (int c = 0; c < cols; c++)
            for (int r = 0; r < ldd && c * ldd + r < dst.Length; r++)
                Assert.Equal(r < rows ? src[r * lds + c] : before[c * ldd + r], dst[c * ldd + r]); // nothing else written
        Assert.Throws<ArgumentException>(() => Gemm.Transpose(src, lds, new float[10], ldd, rows, cols));
    }

    internal static float[] Random(Rng rng, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = rng.NextUniform(1f);
        return values;
    }
}

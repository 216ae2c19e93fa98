namespace DigitParity.Engine;

/// <summary>
/// One product for <see cref="Gemm.Multiply(in GemmProduct)"/>: <c>C (m × n) = [C +] [bias +] op(A) (m × k) · B (k × n)</c>,
/// which depth steps it may skip, and what its epilogue does to each element once it is final, in this order:
/// ReLU (<see cref="GemmOptions.Relu"/>), the gate, then the fused momentum update.
/// </summary>
internal ref struct GemmProduct
{
    /// <summary>The operands: A m × k (row stride lda; with TransposeA, stored k × m), B k × n, C m × n.</summary>
    public GemmProduct(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k,
        GemmOptions options = GemmOptions.None)
    {
        A = a;
        B = b;
        C = c;
        (Lda, Ldb, Ldc, M, N, K, Options) = (lda, ldb, ldc, m, n, k, options);
    }

    public ReadOnlySpan<float> A;
    public int Lda;
    public ReadOnlySpan<float> B;
    public int Ldb;
    public Span<float> C;
    public int Ldc;
    public int M, N, K;
    public GemmOptions Options;

    /// <summary>n values added to every row before the product (empty: none).</summary>
    public ReadOnlySpan<float> Bias;

    /// <summary>
    /// A given as bytes laid out as A would be, element (i, p) being <c>ByteValues[ABytes[...]]</c> (pixels); A itself is
    /// then not read. ByteValues holds a value for each of the 256 bytes.
    /// </summary>
    public ReadOnlySpan<byte> ABytes;
    public ReadOnlySpan<float> ByteValues;

    /// <summary>
    /// The depth steps each 5-row tile visits, found per depth block from the masks of op(A)'s non-zeros
    /// (<see cref="ActiveDepth"/>): for A read row by row, A's row masks (NonZeroMasks, MaskWords(k) words a row), a tile
    /// visiting the steps where one of its rows is non-zero; for TransposeA, A's tile-mask table (TileMasks over A's k
    /// rows), a tile visiting the rows of A where one of its columns is. Trusted: a skipped step would add exactly ±0.
    /// </summary>
    public ReadOnlySpan<ulong> DepthMasks;

    /// <summary>Explicit depth lists instead of masks: tile t visits <c>DepthLists[t·k ..][..DepthCounts[t]]</c>, ascending.</summary>
    public ReadOnlySpan<int> DepthLists, DepthCounts;

    /// <summary>Laid out like C: each element of C is kept where the gate's is positive, else 0 (a ReLU's backward, G its output).</summary>
    public ReadOnlySpan<float> Gate;

    /// <summary>
    /// The weights W and momentum V of a fused update, both laid out like C: once an element g of C is final,
    /// <see cref="Step"/> applies momentum SGD to it (see <see cref="MomentumStep"/>). Empty: no update.
    /// </summary>
    public Span<float> UpdateWeights, UpdateVelocity;
    public MomentumStep Step;
}

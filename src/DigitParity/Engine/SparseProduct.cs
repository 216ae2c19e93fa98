namespace DigitParity.Engine;

/// <summary>
/// The operands of <see cref="SparseRows.MultiplyTransposed"/>: C (M × N, stride Ldc) = Aᵀ·B for A (K × M, stride Lda)
/// whose column i is non-zero only at the rows listed in <c>Lists[i · ListStride ..]</c> (Counts[i] of them, ascending),
/// and B (K × N, stride Ldb) whose row p starts at <c>B + p · Ldb</c>, or at <c>B + RowOffsets[p]</c> when RowOffsets is
/// given (a convolution's im2col row read straight from its input).
/// </summary>
internal readonly unsafe struct SparseProduct
{
    public required float* A { get; init; }
    public required int Lda { get; init; }
    public required int* Lists { get; init; }
    public required int ListStride { get; init; }
    public required int* Counts { get; init; }
    public required float* B { get; init; }
    public int Ldb { get; init; }
    public int* RowOffsets { get; init; }
    public required float* C { get; init; }
    public required int Ldc { get; init; }
    public required int M { get; init; }
    public required int N { get; init; }
    public required int K { get; init; }
}

namespace DigitParity.Engine;

/// <summary>What Gemm.Multiply does besides the product.</summary>
[Flags]
internal enum GemmOptions
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

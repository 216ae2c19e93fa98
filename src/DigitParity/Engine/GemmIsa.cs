namespace DigitParity.Engine;

/// <summary>Instruction sets the matrix multiply can run on; the best available is the default.</summary>
internal enum GemmIsa
{
    Scalar,
    Avx2,
    Avx512,
}

namespace DigitParity.Engine;

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

/// <summary>Rows of a register tile shorter than <see cref="Gemm.TileRows"/> (a compile-time choice).</summary>
internal interface ITileRows
{
    static abstract int Rows { get; }
}

internal struct OneRow : ITileRows
{
    public static int Rows => 1;
}

internal struct TwoRows : ITileRows
{
    public static int Rows => 2;
}

internal struct ThreeRows : ITileRows
{
    public static int Rows => 3;
}

internal struct FourRows : ITileRows
{
    public static int Rows => 4;
}

using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// A fully connected layer's input x (B, In) and what is known about its zeros. x is either floats
/// (<see cref="Values"/>) or bytes (<see cref="Bytes"/>, each standing for <see cref="ByteValues"/>[byte]: the pixels
/// themselves, so fc1 reads a quarter of the memory). The masks are built in the same step, and the products trust them:
/// <see cref="RowMasks"/> (ActiveDepth.NonZeroMasks, one bit per input and row) let the forward product skip, per 5-row
/// tile, the inputs zero in all its rows; <see cref="TileMasks"/> (ActiveDepth.TileMasks) let the weight gradient skip,
/// per tile of 5 inputs, the samples where all of them are zero.
/// </summary>
internal readonly ref struct LayerInput
{
    public LayerInput(ReadOnlySpan<float> values) => Values = values;

    /// <summary>x as floats; empty when x is given as bytes.</summary>
    public ReadOnlySpan<float> Values { get; init; }

    /// <summary>x as bytes (B, In), or empty.</summary>
    public ReadOnlySpan<byte> Bytes { get; init; }

    /// <summary>The value each byte of <see cref="Bytes"/> stands for (256 floats).</summary>
    public ReadOnlySpan<float> ByteValues { get; init; }

    /// <summary>Per row, the inputs that are not zero, or empty.</summary>
    public ReadOnlySpan<ulong> RowMasks { get; init; }

    /// <summary>Per tile of 5 inputs, the rows where one is not zero, or empty.</summary>
    public ReadOnlySpan<ulong> TileMasks { get; init; }

    public static implicit operator LayerInput(ReadOnlySpan<float> values) => new(values);

    public static implicit operator LayerInput(Span<float> values) => new(values);

    public static implicit operator LayerInput(float[] values) => new(values);

    public static implicit operator LayerInput(FloatBuffer values) => new(values is null ? default : values.Span);
}

using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// 2-D convolution, stride 1, no padding, over channels-last images: x (B, H, W, C) → y (B, H−K+1, W−K+1, OC),
/// computed as one matrix multiply per pass through im2col (each output pixel's K·K·C inputs as a row, contiguous in
/// channels-last), so the work runs on our register-blocked kernel: y = cols · W + b with W (K·K·C, OC), rows in
/// (ky, kx, c) order. Measured against a direct convolution (25 shifted products) in the benchmarks' profile-cnn.
/// A stage that <see cref="UsesWinograd"/> computes its forward pass with Winograd's F(4×4, 5×5) instead.
/// </summary>
public sealed partial class Conv2d
{
    /// <summary>Declares W (K·K·C, OC) and b (OC) in <paramref name="layout"/>.</summary>
    public Conv2d(ParameterLayout layout, string name, int inChannels, int outChannels, int kernel, int inHeight, int inWidth)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentOutOfRangeException.ThrowIfLessThan(inChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kernel, 1);
        if (kernel > inHeight || kernel > inWidth) throw new ArgumentException($"A {kernel}x{kernel} kernel does not fit a {inHeight}x{inWidth} input.");
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        InHeight = inHeight;
        InWidth = inWidth;
        Weight = layout.Add(name + ".weight", [kernel * kernel * inChannels, outChannels], decay: true);
        Bias = layout.Add(name + ".bias", [outChannels], decay: false);
    }

    /// <summary>Input channels C.</summary>
    public int InChannels { get; }

    /// <summary>Output channels OC.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel side K.</summary>
    public int Kernel { get; }

    /// <summary>Input height H.</summary>
    public int InHeight { get; }

    /// <summary>Input width W.</summary>
    public int InWidth { get; }

    /// <summary>H − K + 1.</summary>
    public int OutHeight => InHeight - Kernel + 1;

    /// <summary>W − K + 1.</summary>
    public int OutWidth => InWidth - Kernel + 1;

    /// <summary>Output pixels per sample.</summary>
    public int OutPixels => OutHeight * OutWidth;

    /// <summary>K·K·C: the length of one im2col row, the depth of the product.</summary>
    public int Depth => Kernel * Kernel * InChannels;

    /// <summary>Floats per input sample.</summary>
    public int InSize => InHeight * InWidth * InChannels;

    /// <summary>Floats per output sample.</summary>
    public int OutSize => OutPixels * OutChannels;

    /// <summary>(K·K·C, OC), row-major.</summary>
    public ParameterTensor Weight { get; }

    /// <summary>(OC).</summary>
    public ParameterTensor Bias { get; }

    /// <summary>PyTorch's default for Conv2d: W and b uniform in ±1/sqrt(C·K·K), drawn in storage order.</summary>
    public void Initialize(ParameterStore store, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(rng);
        float bound = 1f / MathF.Sqrt(Depth);
        foreach (ref float w in store.Value(Weight)) w = rng.NextUniform(bound);
        foreach (ref float b in store.Value(Bias)) b = rng.NextUniform(bound);
    }
}

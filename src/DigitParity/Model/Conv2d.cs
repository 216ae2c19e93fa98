using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// 2-D convolution, stride 1, no padding, over channels-last images: x (B, H, W, C) → y (B, H−K+1, W−K+1, OC),
/// computed as one matrix multiply per pass through im2col (each output pixel's K·K·C inputs as a row, contiguous in
/// channels-last), so the work runs on our register-blocked kernel: y = cols · W + b with W (K·K·C, OC), rows in
/// (ky, kx, c) order. Measured against a direct convolution (25 shifted products) in the benchmarks' profile-cnn.
/// A stage that <see cref="UsesWinograd"/> computes its forward pass with Winograd's F(4×4, 5×5) instead.
/// </summary>
internal sealed partial class Conv2d
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

    /// <summary>Pixels per sample after 2 × 2 pooling (an odd last row or column is dropped).</summary>
    public int PooledPixels => OutHeight / 2 * (OutWidth / 2);

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

    /// <summary>
    /// This stage's buffers for batches of up to <paramref name="maxBatch"/> (with the backward pass's when
    /// <paramref name="training"/>), as stage <paramref name="index"/> of the network run on <paramref name="workers"/>.
    /// A first stage that fuses its pooling needs neither im2col rows nor a full-size output; a Winograd stage needs its
    /// im2col rows only for a weight gradient that does not read them from its input (StepSchedule.SplitsPanels); the first stage's
    /// weight gradient comes from the pooling's winners, so it has no dense output gradient and no sparsity index.
    /// With <paramref name="batchNorm"/>, the normalized output and its gradient are buffers of their own; without, they are
    /// the pooled output and its gradient.
    /// </summary>
    internal Conv2dBuffers CreateBuffers(int maxBatch, bool training, int workers, int index, bool batchNorm = false)
    {
        static FloatBuffer Buffer(long floats) => new(checked((int)floats));
        bool fused = index == 0 && FusesPooling;
        bool later = training && index > 0;
        bool columns = !fused && (!UsesWinograd || training && !StepSchedule.SplitsPanels(this, workers));
        long rows = (long)maxBatch * OutPixels, pooled = (long)maxBatch * (OutHeight / 2) * (OutWidth / 2) * OutChannels;
        var offsets = later ? new int[rows] : [];
        if (later) RowOffsets(offsets, maxBatch);
        var pooledBuffer = Buffer(pooled);
        var pooledGradient = Buffer(training ? pooled : 0);
        return new Conv2dBuffers
        {
            Columns = Buffer(columns ? rows * Depth : 0),
            RowOffsets = offsets,
            Output = Buffer(fused ? 0 : (long)maxBatch * OutSize),
            Pooled = pooledBuffer,
            Normalized = batchNorm ? Buffer(pooled) : pooledBuffer,
            NormalizedGradient = batchNorm ? Buffer(training ? pooled : 0) : pooledGradient,
            Mean = new float[batchNorm ? OutChannels : 0],
            InverseStd = new float[batchNorm ? OutChannels : 0],
            Winners = training && index == 0 ? new int[pooled] : [],
            OutputGradient = Buffer(later ? (long)maxBatch * OutSize : 0),
            PooledGradient = pooledGradient,
            ColumnGradient = Buffer(later ? rows * Depth : 0),
            TransposedWeight = Buffer(later ? (long)Depth * OutChannels : 0),
            WeightScratch = Buffer(training ? (long)Depth * OutChannels : 0),
            GradientMasks = later ? new ulong[rows * ActiveDepth.MaskWords(OutChannels)] : [],
            GradientTileMasks = later ? new ulong[ActiveDepth.TileWords(OutChannels) * ActiveDepth.TileStride(checked((int)rows))] : [],
            InputLists = later ? new int[rows * OutChannels] : [],
            InputCounts = later ? new int[rows] : [],
            // Per channel (wide layers) or per tile of 5 channels (narrow ones): room for the larger.
            WeightLists = later ? new int[OutChannels * rows] : [],
            WeightCounts = later ? new int[OutChannels] : [],
        };
    }
}

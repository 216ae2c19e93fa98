using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// The buffers one convolution stage (convolution, ReLU, 2 × 2 max pooling) uses in a forward and backward pass, sized
/// once for a maximum batch by <see cref="Conv2d.CreateBuffers"/>. Buffers a stage does not need are empty.
/// </summary>
internal sealed class Conv2dBuffers
{
    /// <summary>The im2col rows: (B·OH·OW, K·K·C).</summary>
    public required FloatBuffer Columns { get; init; }

    /// <summary>Training, after the first stage: where each output pixel's inputs start in the stage's input (Conv2d.RowOffsets).</summary>
    public required int[] RowOffsets { get; init; }

    /// <summary>ReLU(conv): (B, OH, OW, OC).</summary>
    public required FloatBuffer Output { get; init; }

    /// <summary>The pooled output: (B, OH/2, OW/2, OC).</summary>
    public required FloatBuffer Pooled { get; init; }

    /// <summary>
    /// What the next layer reads: the pooled output batch-normalized, (B, OH/2, OW/2, OC); <see cref="Pooled"/> itself
    /// without batch norm.
    /// </summary>
    public required FloatBuffer Normalized { get; init; }

    /// <summary>The gradient at <see cref="Normalized"/> (<see cref="PooledGradient"/> itself without batch norm).</summary>
    public required FloatBuffer NormalizedGradient { get; init; }

    /// <summary>With batch norm: the per-channel mean the last forward pass normalized by (OC).</summary>
    public required float[] Mean { get; init; }

    /// <summary>With batch norm: 1 / sqrt(σ² + ε) of the last forward pass (OC).</summary>
    public required float[] InverseStd { get; init; }

    /// <summary>
    /// The first stage, training: per pooled element, which of its window's four inputs passed the gradient (row-major
    /// window order), or MaxPool2d.NoWinner where the maximum is not above 0.
    /// </summary>
    public required int[] Winners { get; init; }

    /// <summary>The gradient at the pre-activation: (B, OH, OW, OC) (training, after the first stage).</summary>
    public required FloatBuffer OutputGradient { get; init; }

    /// <summary>The gradient at the pooled output: (B, OH/2, OW/2, OC).</summary>
    public required FloatBuffer PooledGradient { get; init; }

    /// <summary>dcols: (B·OH·OW, K·K·C).</summary>
    public required FloatBuffer ColumnGradient { get; init; }

    /// <summary>Wᵀ (OC, K·K·C) for the input gradient.</summary>
    public required FloatBuffer TransposedWeight { get; init; }

    /// <summary>dWᵀ (OC, K·K·C) before it is transposed into the gradient.</summary>
    public required FloatBuffer WeightScratch { get; init; }

    /// <summary>The output gradient's row masks (ActiveDepth.NonZeroMasks): max pooling passes a gradient to one pixel of four.</summary>
    public required ulong[] GradientMasks { get; init; }

    /// <summary>Per row, masks of 5-channel tiles with a non-zero gradient (ActiveDepth.TileMasks).</summary>
    public required ulong[] GradientTileMasks { get; init; }

    /// <summary>For dx: each output-gradient row's non-zero channels (OC ints a row).</summary>
    public required int[] InputLists { get; init; }

    /// <summary>For dx: how many channels each row lists.</summary>
    public required int[] InputCounts { get; init; }

    /// <summary>For dW: the non-zero pixels of each channel (wide layers) or of each tile of 5 channels (narrow ones).</summary>
    public required int[] WeightLists { get; init; }

    /// <summary>For dW: how many pixels each channel or tile lists.</summary>
    public required int[] WeightCounts { get; init; }
}

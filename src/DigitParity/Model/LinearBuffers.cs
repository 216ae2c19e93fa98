using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// The buffers one fully connected layer uses in a forward and backward pass, sized once for a maximum batch by
/// <see cref="Linear.CreateBuffers"/>.
/// </summary>
internal sealed class LinearBuffers
{
    /// <summary>The layer's output, y: (B, Out) (post-ReLU in the trunk; the logits for the heads).</summary>
    public required FloatBuffer Output { get; init; }

    /// <summary>dy: the gradient of the loss with respect to <see cref="Output"/>, (B, Out).</summary>
    public required FloatBuffer OutputGradient { get; init; }

    /// <summary>
    /// Wᵀ (Out, In) for dx = dy·Wᵀ, one per worker where the input gradient is computed row by row (every worker
    /// transposes all of W for itself); empty for a layer that passes no gradient on.
    /// </summary>
    public required FloatBuffer TransposedWeights { get; init; }

    /// <summary>Contiguous copies of dy's panels for the weight gradient: (B, Out).</summary>
    public required FloatBuffer PackedGradient { get; init; }
}

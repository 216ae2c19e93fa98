using DigitParity.Tasks;

namespace DigitParity.Model;

/// <summary>
/// Shape of a multi-task network: an optional convolutional front (each stage: K × K convolution, ReLU, 2 × 2 max
/// pooling, channels last), a ReLU trunk of fully connected layers, then one linear head per task.
/// </summary>
/// <param name="InputSize">Features per sample (784 for MNIST; a square image when there are convolutions).</param>
/// <param name="Hidden">Widths of the trunk's layers, e.g. [128, 64].</param>
/// <param name="Tasks">The heads, in output order.</param>
public sealed record ModelConfig(int InputSize, IReadOnlyList<int> Hidden, IReadOnlyList<TaskDefinition> Tasks)
{
    /// <summary>The tutorial's network: 784 → 128 → 64 → {digit: 10, parity: 2}.</summary>
    public static ModelConfig Tutorial { get; } = new(784, [128, 64], TaskDefinition.DigitAndParity);

    /// <summary>
    /// The CNN: conv 1→32 5×5, max-pool 2, conv 32→64 5×5, max-pool 2, fc 1024→128 (dropout 0.25 in training), the
    /// heads (28 → 24 → 12 → 8 → 4: 64 × 4 × 4 = 1024 features).
    /// </summary>
    public static ModelConfig Cnn { get; } = new(784, [128], TaskDefinition.DigitAndParity) { Convolutions = [32, 64], Dropout = 0.25f };

    /// <summary>Output channels of each convolution stage (empty: an MLP).</summary>
    public IReadOnlyList<int> Convolutions { get; init; } = [];

    /// <summary>Dropout rate on every trunk layer's output during training (0: none).</summary>
    public float Dropout { get; init; }

    /// <summary>Kernel side of every convolution.</summary>
    public int Kernel { get; init; } = 5;

    /// <summary>Total width of all heads together.</summary>
    public int HeadWidth => Tasks.Sum(t => t.ClassCount);

    /// <summary>Side of the square input image (for convolutions).</summary>
    public int ImageSide => (int)Math.Round(Math.Sqrt(InputSize));

    /// <summary>Per stage: (input side, input channels); the side after the last stage and its channels give <see cref="FeatureSize"/>.</summary>
    internal IReadOnlyList<(int Side, int Channels)> Stages()
    {
        var stages = new List<(int, int)>();
        int side = ImageSide, channels = 1;
        foreach (int outChannels in Convolutions)
        {
            stages.Add((side, channels));
            side = (side - Kernel + 1) / 2;
            channels = outChannels;
        }
        stages.Add((side, channels));
        return stages;
    }

    /// <summary>Width of the trunk's input: InputSize, or the flattened output of the convolutions.</summary>
    public int FeatureSize
    {
        get
        {
            if (Convolutions.Count == 0) return InputSize;
            var (side, channels) = Stages()[^1];
            return side * side * channels;
        }
    }

    /// <summary>The problem with this shape, or null when it can be built.</summary>
    internal string? Problem()
    {
        if (InputSize < 1) return "the input size must be positive";
        if (Hidden.Count == 0 || Hidden.Any(h => h < 1)) return "the trunk needs at least one hidden layer, each at least one wide";
        if (Tasks.Count == 0) return "a network needs at least one task";
        if (!(Dropout >= 0 && Dropout < 1)) return $"the dropout rate must be in [0, 1) (got {Dropout})";
        if (Convolutions.Count == 0) return null;
        if (ImageSide * ImageSide != InputSize) return $"convolutions need a square image; {InputSize} pixels is not one";
        if (Kernel < 1 || Convolutions.Any(c => c < 1)) return "kernel and channels must be positive";
        foreach (var (side, _) in Stages().Take(Convolutions.Count))
            if (side - Kernel + 1 < 2) return $"a {Kernel}x{Kernel} convolution and 2x2 pooling do not fit a {side}x{side} input";
        return null;
    }
}

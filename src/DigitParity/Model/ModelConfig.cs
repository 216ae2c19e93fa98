using System.Globalization;
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

    /// <summary>
    /// Whether every convolution stage ends with batch normalization of its pooled output (<c>bnL</c>, PyTorch's
    /// <c>BatchNorm2d</c>): conv, ReLU, pool, then normalize. After the pooling, so the convolutions keep their fused
    /// ReLU and pooling, and the gradient the pooling passes down stays sparse.
    /// </summary>
    public bool BatchNorm { get; init; }

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

    /// <summary>Most parameters a network may have: 2²⁶ (67,108,864; 256 MiB of weights).</summary>
    internal const long MaxParameters = 1L << 26;

    /// <summary>Most working memory a network's buffers for one batch may take: 4 GiB (see <see cref="WorkingBytes"/>).</summary>
    internal const long MaxWorkingBytes = 4L << 30;

    /// <summary>The problem with this shape, or null when it can be built.</summary>
    internal string? Problem()
    {
        if (InputSize < 1) return "the input size must be positive";
        if (Hidden.Count == 0 || Hidden.Any(h => h < 1)) return "the trunk needs at least one hidden layer, each at least one wide";
        if (Tasks.Count == 0) return "a network needs at least one task";
        if (Tasks.Select(t => t.Name).Distinct().Count() != Tasks.Count) return "the task names must be distinct";
        if (!(Dropout >= 0 && Dropout < 1)) return $"the dropout rate must be in [0, 1) (got {Dropout})";
        if (Convolutions.Count > 0 && ConvolutionProblem() is { } convolution) return convolution;
        if (BatchNorm && Convolutions.Count == 0) return "batch normalization follows convolution stages; an MLP has none";
        // A 1 x 1 map gives a batch of one image a single value a channel, whose variance is not defined.
        if (BatchNorm && Stages().Skip(1).Any(s => s.Side < 2)) return "batch normalization needs every pooled map at least 2 x 2; a stage here pools to 1 x 1";
        if (ParameterCount() is var parameters && parameters > MaxParameters)
            return $"{parameters:N0} parameters, more than the {MaxParameters:N0} a network may have";
        return null;
    }

    /// <summary>
    /// The problem with buffers for batches of <paramref name="batch"/> samples on <paramref name="workers"/> workers, or
    /// null: they must fit in <see cref="MaxWorkingBytes"/>. Checked before anything is allocated, in 64-bit arithmetic.
    /// </summary>
    internal string? BatchProblem(int batch, int workers)
    {
        double bytes = WorkingBytes(batch, workers);
        return bytes > MaxWorkingBytes
            ? string.Create(CultureInfo.InvariantCulture, $"batches of {batch:N0} would need {bytes / (1 << 30):0.#} GiB of working memory, more than the {MaxWorkingBytes >> 30} GiB limit; use a smaller batch or a smaller network")
            : null;
    }

    /// <summary>
    /// An upper bound of the bytes a training workspace for batches of <paramref name="batch"/> takes, with the
    /// parameters, their gradients and two optimizer states: per convolution its im2col rows and their gradient, its
    /// output and output gradient, the pooled output and gradient and the per-pixel channel lists; per fully connected
    /// layer its output, gradient and packed gradient and one Wᵀ per worker.
    /// </summary>
    internal double WorkingBytes(int batch, int workers)
    {
        double floats = (double)batch * InputSize * 2, width = InputSize;
        if (Convolutions.Count > 0)
        {
            var stages = Stages();
            for (int l = 0; l < Convolutions.Count; l++)
            {
                double side = stages[l].Side - Kernel + 1, rows = batch * side * side, depth = (double)Kernel * Kernel * stages[l].Channels;
                floats += 2 * rows * depth + 3 * rows * Convolutions[l] + (BatchNorm ? 4 : 2) * rows / 4 * Convolutions[l] + 2 * depth * Convolutions[l];
            }
            width = (double)stages[^1].Side * stages[^1].Side * stages[^1].Channels;
        }
        foreach (int layer in Hidden.Append(HeadWidth))
        {
            floats += 3.0 * batch * layer + width * layer * Math.Max(workers, 1);
            width = layer;
        }
        return 4 * (floats + 4.0 * ParameterCount());
    }

    /// <summary>Weights and biases of every layer, in 64 bits.</summary>
    internal long ParameterCount() => TensorShapes().Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>
    /// Every parameter tensor with its shape as PyTorch's modules hold it, in 64 bits, under the names
    /// <see cref="MultiTaskNetwork"/> gives its layers: <c>convL.weight</c> (out, in, k, k) and <c>convL.bias</c>,
    /// <c>fcL.weight</c> (out, in) and <c>fcL.bias</c>, <c>heads.weight</c> and <c>heads.bias</c>; with
    /// <see cref="BatchNorm"/>, after each convolution's, <c>bnL.weight</c>, <c>bnL.bias</c>, <c>bnL.running_mean</c> and
    /// <c>bnL.running_var</c> (out).
    /// </summary>
    internal IEnumerable<(string Name, long[] Shape)> TensorShapes()
    {
        long width = InputSize;
        if (Convolutions.Count > 0)
        {
            var stages = Stages();
            for (int l = 0; l < Convolutions.Count; l++)
            {
                yield return ($"conv{l + 1}.weight", [Convolutions[l], stages[l].Channels, Kernel, Kernel]);
                yield return ($"conv{l + 1}.bias", [Convolutions[l]]);
            }
            if (BatchNorm)
                for (int l = 0; l < Convolutions.Count; l++)
                    foreach (string tensor in BatchNormTensors) yield return ($"bn{l + 1}.{tensor}", [Convolutions[l]]);
            width = (long)stages[^1].Side * stages[^1].Side * stages[^1].Channels;
        }
        for (int l = 0; l <= Hidden.Count; l++)
        {
            long layer = l < Hidden.Count ? Hidden[l] : HeadWidth;
            string name = l < Hidden.Count ? $"fc{l + 1}" : "heads";
            yield return ($"{name}.weight", [layer, width]);
            yield return ($"{name}.bias", [layer]);
            width = layer;
        }
    }

    /// <summary>A batch norm's tensors, as PyTorch's <c>BatchNorm2d</c> names them (its <c>num_batches_tracked</c> aside).</summary>
    internal static readonly string[] BatchNormTensors = ["weight", "bias", "running_mean", "running_var"];

    private string? ConvolutionProblem()
    {
        if (ImageSide * ImageSide != InputSize) return $"convolutions need a square image; {InputSize} pixels is not one";
        if (Kernel < 1 || Convolutions.Any(c => c < 1)) return "kernel and channels must be positive";
        foreach (var (side, _) in Stages().Take(Convolutions.Count))
            if (side - Kernel + 1 < 2) return $"a {Kernel}x{Kernel} convolution and 2x2 pooling do not fit a {side}x{side} input";
        return null;
    }
}

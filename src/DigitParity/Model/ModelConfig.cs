using DigitParity.Data;

namespace DigitParity.Model;

/// <summary>Shape of a multi-task MLP: a ReLU trunk of fully connected layers, then one linear head per task.</summary>
/// <param name="InputSize">Features per sample (784 for MNIST).</param>
/// <param name="Hidden">Widths of the trunk's layers, e.g. [128, 64].</param>
/// <param name="Tasks">The heads, in output order.</param>
public sealed record ModelConfig(int InputSize, IReadOnlyList<int> Hidden, IReadOnlyList<TaskDefinition> Tasks)
{
    /// <summary>The tutorial's network: 784 → 128 → 64 → {digit: 10, parity: 2}.</summary>
    public static ModelConfig Tutorial { get; } = new(784, [128, 64], TaskDefinition.DigitAndParity);

    /// <summary>Total width of all heads together.</summary>
    public int HeadWidth => Tasks.Sum(t => t.ClassCount);
}

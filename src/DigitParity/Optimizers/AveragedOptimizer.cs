using DigitParity.Engine;
using DigitParity.Model;

namespace DigitParity.Optimizers;

/// <summary>An optimizer whose checkpointed state also holds the training weights parked by a <see cref="WeightAverage"/>.</summary>
internal sealed class AveragedOptimizer(IOptimizer inner, WeightAverage average) : IOptimizer
{
    /// <summary>Name of the parked training weights in a checkpoint's optimizer state.</summary>
    public const string TrainingWeights = "training_weights";

    public float LearningRate { get => inner.LearningRate; set => inner.LearningRate = value; }

    public long Steps { get => inner.Steps; set => inner.Steps = value; }

    public IReadOnlyList<(string Name, FloatBuffer Buffer)> State => [.. inner.State, (TrainingWeights, average.Training)];

    public void BeginStep() => inner.BeginStep();

    public void Apply(ParameterTensor tensor, int offset, int length) => inner.Apply(tensor, offset, length);

    public bool TryGetFusedStep(ParameterTensor tensor, out Span<float> velocity, out MomentumStep step)
        => inner.TryGetFusedStep(tensor, out velocity, out step);
}

using DigitParity.Metrics;

namespace DigitParity.Training;

/// <summary>Running figures, reported every <see cref="TrainingOptions.LogInterval"/> batches.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="BatchesPerEpoch">Batches in the epoch.</param>
/// <param name="SamplesPerSecond">Throughput since the previous report.</param>
/// <param name="Running">The training metric since the start of this epoch.</param>
public sealed record BatchProgress(int Epoch, int Batch, int BatchesPerEpoch, double SamplesPerSecond, MetricsSnapshot Running);

/// <summary>The figures of one finished epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Seconds">Wall time of the epoch's training steps (validation excluded).</param>
/// <param name="SamplesPerSecond">Training samples / <paramref name="Seconds"/>.</param>
/// <param name="Train">Training metric over this epoch only.</param>
/// <param name="Validation">Metric over the validation set after this epoch.</param>
/// <param name="LearningRate">η used in this epoch.</param>
public sealed record EpochResult(int Epoch, double Seconds, double SamplesPerSecond, MetricsSnapshot Train, MetricsSnapshot Validation, float LearningRate);

/// <summary>Hooks a training run calls; the CLI renders them, tests record them.</summary>
public interface ITrainingCallbacks
{
    /// <summary>Every <see cref="TrainingOptions.LogInterval"/> batches.</summary>
    void OnProgress(BatchProgress progress);

    /// <summary>After each epoch's validation.</summary>
    void OnEpochCompleted(EpochResult result);
}

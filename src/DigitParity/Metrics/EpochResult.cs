namespace DigitParity.Metrics;

/// <summary>The figures of one finished epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Seconds">Wall time of the epoch's training steps (validation excluded).</param>
/// <param name="SamplesPerSecond">Training samples / <paramref name="Seconds"/>.</param>
/// <param name="Train">Training metric over this epoch only.</param>
/// <param name="Validation">Metric over the validation set after this epoch.</param>
/// <param name="LearningRate">η used in this epoch.</param>
public sealed record EpochResult(int Epoch, double Seconds, double SamplesPerSecond, MetricsSnapshot Train, MetricsSnapshot Validation, float LearningRate);

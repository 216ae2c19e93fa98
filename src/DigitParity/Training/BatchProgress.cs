using DigitParity.Metrics;

namespace DigitParity.Training;

/// <summary>Running figures, reported every <see cref="TrainingOptions.LogInterval"/> batches.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="BatchesPerEpoch">Batches in the epoch.</param>
/// <param name="SamplesPerSecond">Throughput since the previous report.</param>
/// <param name="Running">The training metric since the start of this epoch.</param>
public sealed record BatchProgress(int Epoch, int Batch, int BatchesPerEpoch, double SamplesPerSecond, MetricsSnapshot Running);

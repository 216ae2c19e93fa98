using DigitParity.Metrics;

namespace DigitParity.Training;

/// <summary>Hooks a training run calls; the CLI renders them, tests record them.</summary>
public interface ITrainingCallbacks
{
    /// <summary>Every <see cref="TrainingOptions.LogInterval"/> batches.</summary>
    void OnProgress(BatchProgress progress);

    /// <summary>After each epoch's validation.</summary>
    void OnEpochCompleted(EpochResult result);
}

namespace DigitParity.Training;

/// <summary>The loss became NaN or infinite: training stopped at once, before anything was saved for that epoch.</summary>
public sealed class TrainingDivergedException(int epoch, int batch, float learningRate)
    : Exception($"training diverged at epoch {epoch}, batch {batch}: the loss is no longer finite (learning rate {learningRate.ToString(System.Globalization.CultureInfo.InvariantCulture)}; try a smaller --lr)")
{
    /// <summary>1-based epoch of the step whose loss was not finite.</summary>
    public int Epoch { get; } = epoch;

    /// <summary>1-based batch within that epoch.</summary>
    public int Batch { get; } = batch;
}

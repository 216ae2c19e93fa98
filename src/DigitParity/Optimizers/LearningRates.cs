namespace DigitParity.Optimizers;

/// <summary>The learning rate of each step under a <see cref="LearningRateSchedule"/>.</summary>
internal static class LearningRates
{
    /// <summary>
    /// η at step <paramref name="step"/> (0-based, counted over the whole run) of <paramref name="totalSteps"/>, in epoch
    /// <paramref name="epoch"/> (1-based) of <paramref name="epochs"/>.
    /// </summary>
    public static float At(LearningRateSchedule schedule, float peak, int epoch, int epochs, long step, long totalSteps)
    {
        double progress = totalSteps <= 1 ? 0 : (double)step / (totalSteps - 1);
        return schedule switch
        {
            LearningRateSchedule.Constant => peak,
            LearningRateSchedule.Step => peak / MathF.Pow(10, Math.Min(2, (epoch - 1) * 3 / Math.Max(1, epochs))),
            LearningRateSchedule.Cosine => (float)(peak * 0.5 * (1 + Math.Cos(Math.PI * progress))),
            LearningRateSchedule.OneCycle => progress < 0.3
                ? (float)(peak / 25 + (peak - peak / 25) * progress / 0.3)
                : (float)(peak / 1e4 + (peak - peak / 1e4) * 0.5 * (1 + Math.Cos(Math.PI * (progress - 0.3) / 0.7))),
            _ => throw new ArgumentOutOfRangeException(nameof(schedule)),
        };
    }
}

namespace DigitParity.Metrics;

/// <summary>
/// p = softmax(z / T) in double precision, the one formula every consumer of a head's logits uses (predictions,
/// calibration, the joint decision, rejection), so that they agree to the bit.
/// </summary>
internal static class TemperedSoftmax
{
    /// <summary>Writes softmax(<paramref name="logits"/> / <paramref name="temperature"/>) to <paramref name="p"/>; returns log Σ exp(z / T), the energy score.</summary>
    public static double Apply(ReadOnlySpan<float> logits, double temperature, Span<double> p)
    {
        if (p.Length != logits.Length) throw new ArgumentException($"{p.Length} probabilities for {logits.Length} logits.", nameof(p));
        double max = double.NegativeInfinity, sum = 0;
        foreach (float v in logits) max = Math.Max(max, v / temperature);
        for (int c = 0; c < p.Length; c++) sum += p[c] = Math.Exp(logits[c] / temperature - max);
        for (int c = 0; c < p.Length; c++) p[c] /= sum;
        return max + Math.Log(sum);
    }
}

namespace DigitParity.Inference;

/// <summary>
/// Why one head gave its answer: per input pixel, gradient × input of the answer's logit measured from the head's mean
/// logit, z_answer − mean(z), the softmax's own contrast (a constant added to every logit changes nothing). Positive:
/// the ink there raises the answer above the other classes; negative: it argues against it. Background pixels (0) get 0.
/// The values of all pixels sum to roughly the contrast itself where the network is close to linear in its input.
/// </summary>
/// <param name="Task">The head's name.</param>
/// <param name="Class">The class explained: the head's <see cref="TaskPrediction.Answer"/>.</param>
/// <param name="ClassName">Its display name.</param>
/// <param name="Values">InputSize values (28 × 28 row-major for image models), in logit units.</param>
public sealed record Saliency(string Task, int Class, string ClassName, float[] Values)
{
    /// <summary>The largest |value|, for scaling a heatmap (0 for a blank input).</summary>
    public float Peak => Values.Length == 0 ? 0 : Values.Max(MathF.Abs);
}

/// <summary>A prediction with the input the network saw and, per head, the saliency of its answer.</summary>
/// <param name="Prediction">The prediction, as <see cref="Predictor.Predict(byte[])"/> gives it.</param>
/// <param name="Input">The network's input: InputSize values in [0, 1] (28 × 28 row-major for image models).</param>
/// <param name="Heads">Per head, in head order.</param>
public sealed record Explanation(Prediction Prediction, float[] Input, IReadOnlyList<Saliency> Heads)
{
    /// <summary>The saliency of the head called <paramref name="task"/>.</summary>
    /// <exception cref="KeyNotFoundException">The model has no such head.</exception>
    public Saliency this[string task] =>
        Heads.FirstOrDefault(h => h.Task == task) ?? throw new KeyNotFoundException($"no head {task}; the heads are {string.Join(", ", Heads.Select(h => h.Task))}");
}

using System.Numerics.Tensors;
using DigitParity.Engine;

namespace DigitParity.Optimizers;

/// <summary>
/// An exponential moving average of the weights (Polyak averaging), kept beside training. After step t, with weights w:
/// <code>
/// a ← a + (1 − d)·(w − a),   d = min(decay, (1 + t) / (10 + t))
/// </code>
/// (the smaller early decay lets the average leave the random initialization quickly). The network holds the average
/// whenever the trainer is not stepping — for evaluation, checkpoints and the saved model — and the weights training
/// continues from are parked in <see cref="Training"/>, which checkpoints save as optimizer state for an exact resume.
/// </summary>
internal sealed class WeightAverage
{
    private readonly float _decay;

    /// <summary>Starts the average (and the parked training weights) at <paramref name="values"/>.</summary>
    public WeightAverage(FloatBuffer values, float decay)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(decay);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(decay, 1f);
        _decay = decay;
        Average = new FloatBuffer(values.Length);
        Training = new FloatBuffer(values.Length);
        values.Span.CopyTo(Average.Span);
        values.Span.CopyTo(Training.Span);
    }

    /// <summary>The averaged weights, laid out like the parameters.</summary>
    public FloatBuffer Average { get; }

    /// <summary>The weights training continues from while the network holds the average.</summary>
    public FloatBuffer Training { get; }

    /// <summary>The decay of step <paramref name="step"/> (1-based).</summary>
    public float DecayAt(long step) => Math.Min(_decay, (float)((1.0 + step) / (10.0 + step)));

    /// <summary>Folds the weights after step <paramref name="step"/> into the average.</summary>
    public void Update(ReadOnlySpan<float> weights, long step)
    {
        // a + (1 − d)(w − a) = Lerp(a, w, 1 − d)
        var average = Average.Span;
        TensorPrimitives.Lerp(average, weights, 1f - DecayAt(step), average);
    }

    /// <summary>Parks the training weights held in <paramref name="values"/> and puts the average in their place.</summary>
    public void ShowAverage(Span<float> values)
    {
        values.CopyTo(Training.Span);
        Average.Span.CopyTo(values);
    }

    /// <summary>Puts the parked training weights back into <paramref name="values"/>.</summary>
    public void ResumeTraining(Span<float> values) => Training.Span.CopyTo(values);
}

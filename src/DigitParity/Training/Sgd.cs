using System.Numerics.Tensors;
using DigitParity.Engine;
using DigitParity.Model;

namespace DigitParity.Training;

/// <summary>
/// Stochastic gradient descent with momentum and weight decay (the update of MXNet and PyTorch alike,
/// for a constant learning rate). For every parameter w with gradient g and momentum buffer v:
/// <code>
/// g ← g + λ·w        (λ = weight decay; weights only, not biases)
/// v ← μ·v + g        (μ = momentum; v starts at 0)
/// w ← w − η·v        (η = learning rate)
/// </code>
/// </summary>
public sealed class Sgd
{
    private const int Granule = 16;
    private readonly ParameterStore _store;

    /// <summary>Creates the optimizer and its zeroed momentum buffer (same layout as the parameters).</summary>
    public Sgd(ParameterStore store, float learningRate, float momentum, float weightDecay)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
        Velocity = new float[store.Values.Length];
    }

    /// <summary>η.</summary>
    public float LearningRate { get; set; }

    /// <summary>μ.</summary>
    public float Momentum { get; }

    /// <summary>λ.</summary>
    public float WeightDecay { get; }

    /// <summary>The momentum buffer v, laid out like <see cref="ParameterStore.Values"/>.</summary>
    public float[] Velocity { get; }

    /// <summary>Applies one update to every parameter (single-threaded).</summary>
    public void Step() => Step(worker: 0, workers: 1);

    // This worker's share of every tensor; shares are disjoint, so workers need no synchronisation here.
    internal void Step(int worker, int workers)
    {
        foreach (var tensor in _store.Tensors)
        {
            var (start, end) = Partition.Share(tensor.Length, Granule, worker, workers);
            if (start >= end) continue;
            int offset = tensor.Offset + start, length = end - start;
            Span<float> w = _store.Values.AsSpan(offset, length);
            Span<float> g = _store.Gradients.AsSpan(offset, length);
            Span<float> v = Velocity.AsSpan(offset, length);
            if (tensor.Decay && WeightDecay != 0f) TensorPrimitives.MultiplyAdd(w, WeightDecay, g, g);
            TensorPrimitives.MultiplyAdd(v, Momentum, g, v);
            TensorPrimitives.MultiplyAdd(v, -LearningRate, w, w);
        }
    }
}

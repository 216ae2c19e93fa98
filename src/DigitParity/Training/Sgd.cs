using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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
/// During training each worker updates the columns it computed, right after computing them, so a
/// block of weights, its gradient and its momentum stay in that core's cache.
/// </summary>
public sealed class Sgd : IParameterUpdate
{
    private readonly ParameterStore _store;

    /// <summary>Creates the optimizer and its zeroed momentum buffer (same layout as the parameters).</summary>
    public Sgd(ParameterStore store, float learningRate, float momentum, float weightDecay)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
        Velocity = new FloatBuffer(store.Values.Length);
    }

    /// <summary>η.</summary>
    public float LearningRate { get; set; }

    /// <summary>μ.</summary>
    public float Momentum { get; }

    /// <summary>λ.</summary>
    public float WeightDecay { get; }

    /// <summary>The momentum buffer v, laid out like <see cref="ParameterStore.Values"/>.</summary>
    public FloatBuffer Velocity { get; }

    /// <summary>Applies one update to every parameter.</summary>
    public void Step()
    {
        foreach (var tensor in _store.Tensors) Apply(tensor, 0, tensor.Length);
    }

    /// <inheritdoc/>
    public void Apply(ParameterTensor tensor, int offset, int length)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (offset < 0 || length < 0 || offset + length > tensor.Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset + length}) is outside {tensor.Name}'s {tensor.Length} elements.");
        int start = tensor.Offset + offset;
        Update(_store.Values.AsSpan(start, length), _store.Gradients.AsSpan(start, length), Velocity.AsSpan(start, length),
            LearningRate, Momentum, tensor.Decay ? WeightDecay : 0f);
    }

    /// <inheritdoc/>
    public bool TryGetMomentumSgd(ParameterTensor tensor, out Span<float> velocity, out float learningRate, out float momentum, out float weightDecay)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        velocity = Velocity.AsSpan(tensor.Offset, tensor.Length);
        (learningRate, momentum, weightDecay) = (LearningRate, Momentum, tensor.Decay ? WeightDecay : 0f);
        return true;
    }

    /// <summary>The update rule above on one contiguous run, in a single pass (g is not modified).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Update(Span<float> w, ReadOnlySpan<float> g, Span<float> v, float learningRate, float momentum, float weightDecay)
    {
        if (g.Length != w.Length || v.Length != w.Length) throw new ArgumentException("w, g and v must have the same length.");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var lr = Vector512.Create(learningRate);
            var mu = Vector512.Create(momentum);
            var wd = Vector512.Create(weightDecay);
            for (; i <= w.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var wi = Vector512.Create(w[i..]);
                var vi = mu * Vector512.Create(v[i..]) + (Vector512.Create(g[i..]) + wd * wi);
                vi.CopyTo(v[i..]);
                (wi - lr * vi).CopyTo(w[i..]);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var lr = Vector256.Create(learningRate);
            var mu = Vector256.Create(momentum);
            var wd = Vector256.Create(weightDecay);
            for (; i <= w.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var wi = Vector256.Create(w[i..]);
                var vi = mu * Vector256.Create(v[i..]) + (Vector256.Create(g[i..]) + wd * wi);
                vi.CopyTo(v[i..]);
                (wi - lr * vi).CopyTo(w[i..]);
            }
        }
        for (; i < w.Length; i++)
        {
            float vi = momentum * v[i] + (g[i] + weightDecay * w[i]);
            v[i] = vi;
            w[i] -= learningRate * vi;
        }
    }
}

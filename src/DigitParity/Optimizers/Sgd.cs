using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DigitParity.Engine;
using DigitParity.Model;

namespace DigitParity.Optimizers;

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
internal sealed class Sgd : IOptimizer
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

    /// <inheritdoc/>
    public float LearningRate { get; set; }

    /// <inheritdoc/>
    public void BeginStep() => Steps++;

    /// <summary>μ.</summary>
    public float Momentum { get; }

    /// <summary>λ.</summary>
    public float WeightDecay { get; }

    /// <summary>The momentum buffer v, laid out like <see cref="ParameterStore.Values"/>.</summary>
    public FloatBuffer Velocity { get; }

    /// <inheritdoc/>
    public IReadOnlyList<(string Name, FloatBuffer Buffer)> State => [("momentum", Velocity)];

    /// <inheritdoc/>
    public long Steps { get; set; }

    /// <summary>Applies one update to every parameter.</summary>
    public void Step()
    {
        foreach (var tensor in _store.Tensors.Where(t => t.Trained)) Apply(tensor, 0, tensor.Length);
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
    public bool TryGetFusedStep(ParameterTensor tensor, out Span<float> velocity, out MomentumStep step)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        velocity = Velocity.AsSpan(tensor.Offset, tensor.Length);
        step = new MomentumStep(LearningRate, Momentum, tensor.Decay ? WeightDecay : 0f);
        return true;
    }

    /// <summary>The update rule above on one contiguous run, in a single pass (g is not modified).</summary>
    [MethodImpl(KernelCompilation.Options)]
    public static unsafe void Update(Span<float> w, ReadOnlySpan<float> g, Span<float> v, float learningRate, float momentum, float weightDecay)
    {
        if (g.Length != w.Length || v.Length != w.Length) throw new ArgumentException("w, g and v must have the same length.");
        var rule = new MomentumStep(learningRate, momentum, weightDecay);
        fixed (float* pw = w, pg = g, pv = v)
        {
            int i = Vector512.IsHardwareAccelerated ? Update<Simd512, Vector512<float>>(pw, pg, pv, w.Length, rule)
                : Vector256.IsHardwareAccelerated ? Update<Simd256, Vector256<float>>(pw, pg, pv, w.Length, rule)
                : 0;
            for (; i < w.Length; i++) (pw[i], pv[i]) = rule.Apply(pw[i], pg[i], pv[i]);
        }
    }

    // Whole vectors of the run; returns where the scalar tail starts.
    private static unsafe int Update<TS, TV>(float* w, float* g, float* v, int length, MomentumStep rule) where TS : struct, ISimd<TV> where TV : struct
    {
        int i = 0;
        for (; i + TS.Count <= length; i += TS.Count)
        {
            TV wi = TS.Load(w + i);
            TV vi = rule.Velocity<TS, TV>(wi, TS.Load(g + i), TS.Load(v + i));
            TS.Store(v + i, vi);
            TS.Store(w + i, rule.Weight<TS, TV>(wi, vi));
        }
        return i;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DigitParity.Engine;
using DigitParity.Model;

namespace DigitParity.Optimizers;

/// <summary>
/// Adam, and AdamW with decoupled weight decay. With step count t, gradient g, weight w:
/// <code>
/// g ← g + λ·w                       (Adam only; weights, not biases)
/// m ← β₁·m + (1 − β₁)·g
/// v ← β₂·v + (1 − β₂)·g²
/// w ← w − η·( m/(1 − β₁ᵗ) / (√(v/(1 − β₂ᵗ)) + ε) + λ·w )   (the λ·w term for AdamW only; weights, not biases)
/// </code>
/// </summary>
internal sealed class Adam : IOptimizer
{
    private readonly ParameterStore _store;
    private long _step;

    /// <summary>Creates the optimizer with zeroed moments.</summary>
    public Adam(ParameterStore store, float learningRate, float weightDecay, bool decoupled, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        (LearningRate, WeightDecay, Decoupled, Beta1, Beta2, Epsilon) = (learningRate, weightDecay, decoupled, beta1, beta2, epsilon);
        FirstMoment = new FloatBuffer(store.Values.Length);
        SecondMoment = new FloatBuffer(store.Values.Length);
    }

    /// <inheritdoc/>
    public float LearningRate { get; set; }

    /// <summary>λ.</summary>
    public float WeightDecay { get; }

    /// <summary>True for AdamW: λ·w is subtracted from w directly instead of being added to the gradient.</summary>
    public bool Decoupled { get; }

    /// <summary>β₁.</summary>
    public float Beta1 { get; }

    /// <summary>β₂.</summary>
    public float Beta2 { get; }

    /// <summary>ε.</summary>
    public float Epsilon { get; }

    /// <summary>m, laid out like the parameters.</summary>
    public FloatBuffer FirstMoment { get; }

    /// <summary>v, laid out like the parameters.</summary>
    public FloatBuffer SecondMoment { get; }

    /// <summary>Steps taken (t).</summary>
    public long Steps
    {
        get => _step;
        set => _step = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    /// <inheritdoc/>
    public IReadOnlyList<(string Name, FloatBuffer Buffer)> State => [("adam_m", FirstMoment), ("adam_v", SecondMoment)];

    /// <inheritdoc/>
    public void BeginStep() => _step++;

    /// <inheritdoc/>
    [MethodImpl(KernelCompilation.Options)]
    public void Apply(ParameterTensor tensor, int offset, int length)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (offset < 0 || length < 0 || offset + length > tensor.Length) throw new ArgumentOutOfRangeException(nameof(length));
        if (_step == 0) throw new InvalidOperationException("BeginStep must be called before the first update.");
        int start = tensor.Offset + offset;
        Span<float> w = _store.Values.AsSpan(start, length), m = FirstMoment.AsSpan(start, length), v = SecondMoment.AsSpan(start, length);
        ReadOnlySpan<float> g = _store.Gradients.AsSpan(start, length);
        float decay = tensor.Decay ? WeightDecay : 0f;
        float coupled = Decoupled ? 0f : decay, decoupled = Decoupled ? decay : 0f;
        float correction1 = 1f / (1f - MathF.Pow(Beta1, _step)), correction2 = 1f / (1f - MathF.Pow(Beta2, _step));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= length; i += 16)
            {
                var wi = Vector512.Create(w[i..]);
                var gi = Vector512.Create(g[i..]) + coupled * wi;
                var mi = Beta1 * Vector512.Create(m[i..]) + (1 - Beta1) * gi;
                var vi = Beta2 * Vector512.Create(v[i..]) + (1 - Beta2) * gi * gi;
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                var step = mi * correction1 / (Vector512.Sqrt(vi * correction2) + Vector512.Create(Epsilon)) + decoupled * wi;
                (wi - LearningRate * step).CopyTo(w[i..]);
            }
        }
        for (; i < length; i++)
        {
            float gi = g[i] + coupled * w[i];
            float mi = Beta1 * m[i] + (1 - Beta1) * gi;
            float vi = Beta2 * v[i] + (1 - Beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] -= LearningRate * (mi * correction1 / (MathF.Sqrt(vi * correction2) + Epsilon) + decoupled * w[i]);
        }
    }
}

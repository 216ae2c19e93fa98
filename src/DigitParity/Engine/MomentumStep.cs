using System.Runtime.CompilerServices;

namespace DigitParity.Engine;

/// <summary>
/// One step of momentum SGD on one element, <c>v = μ·v + (g + λ·w); w = w − η·v</c>, written once for every vector
/// width. It is an engine operation rather than the optimizer's own code because a weight-gradient product applies it
/// in its epilogue, in registers, as each gradient element becomes final (no pass over the gradient afterwards);
/// <c>Sgd</c> applies the same operations in its own pass, so both give the same bits. KeepGradient = false lets a
/// fused product leave the final gradient in registers only.
/// </summary>
internal readonly record struct MomentumStep(float LearningRate, float Momentum, float WeightDecay, bool KeepGradient = true)
{
    /// <summary>μ·v + (g + λ·w): the momentum after this step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TV Velocity<TS, TV>(TV w, TV g, TV v) where TS : struct, ISimd<TV> where TV : struct
        => TS.Add(TS.Multiply(TS.Broadcast(Momentum), v), TS.Add(g, TS.Multiply(TS.Broadcast(WeightDecay), w)));

    /// <summary>w − η·v: the weight after this step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TV Weight<TS, TV>(TV w, TV v) where TS : struct, ISimd<TV> where TV : struct
        => TS.Subtract(w, TS.Multiply(TS.Broadcast(LearningRate), v));

    /// <summary>The same rule on one float.</summary>
    public (float W, float V) Apply(float w, float g, float v)
    {
        float velocity = Momentum * v + (g + WeightDecay * w);
        return (w - LearningRate * velocity, velocity);
    }
}

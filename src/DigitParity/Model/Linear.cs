using System.Numerics.Tensors;
using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// Fully connected layer y = x·W + b with W stored (in, out), so both the forward product and the
/// weight gradient stream contiguous rows of W through the micro-kernel. Work is split between
/// workers by output columns (16-float granules): each worker owns a contiguous block of every row of W.
/// </summary>
public sealed class Linear
{
    /// <summary>Columns a worker's share is rounded to.</summary>
    private const int Granule = 16;

    /// <summary>Declares the layer's weight (in, out) and bias (out) in <paramref name="layout"/>.</summary>
    public Linear(ParameterLayout layout, string name, int inFeatures, int outFeatures)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentOutOfRangeException.ThrowIfLessThan(inFeatures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outFeatures, 1);
        In = inFeatures;
        Out = outFeatures;
        Weight = layout.Add(name + ".weight", [inFeatures, outFeatures], decay: true);
        Bias = layout.Add(name + ".bias", [outFeatures], decay: false);
    }

    /// <summary>Input features.</summary>
    public int In { get; }

    /// <summary>Output features.</summary>
    public int Out { get; }

    /// <summary>The weight tensor, (In, Out).</summary>
    public ParameterTensor Weight { get; }

    /// <summary>The bias tensor, (Out).</summary>
    public ParameterTensor Bias { get; }

    /// <summary>PyTorch's default: W and b uniform in ±1/sqrt(In).</summary>
    public void Initialize(ParameterStore store, Rng rng)
    {
        float bound = 1f / MathF.Sqrt(In);
        foreach (ref float w in store.Value(Weight)) w = rng.NextUniform(bound);
        foreach (ref float b in store.Value(Bias)) b = rng.NextUniform(bound);
    }

    // x: (B, In) -> y: (B, Out) = x·W + b, then ReLU if asked. This worker computes columns [j0, j1).
    internal void Forward(ParameterStore store, ReadOnlySpan<float> x, Span<float> y, int batch, bool relu, int worker, int workers)
    {
        var (j0, j1) = Partition.Share(Out, Granule, worker, workers);
        if (j0 >= j1) return;
        Gemm.Multiply(x, In, store.Value(Weight)[j0..], Out, store.Value(Bias)[j0..j1], y[j0..], Out,
            batch, j1 - j0, In, relu ? GemmOptions.Relu : GemmOptions.None);
    }

    // dy: (B, Out) -> dW (In, Out) = xᵀ·dy, db (Out) = Σ_b dy, and dx (B, In) = dy·Wᵀ unless dx is empty.
    // This worker computes the dW/db columns [j0, j1) and the dx columns [i0, i1); wT (Out, In) is
    // scratch for the transposed rows i0..i1 of W, so no barrier is needed inside.
    internal void Backward(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, Span<float> wT,
        int batch, int worker, int workers)
    {
        var (j0, j1) = Partition.Share(Out, Granule, worker, workers);
        if (j0 < j1)
        {
            Gemm.Multiply(x, In, dy[j0..], Out, default, store.Gradient(Weight)[j0..], Out,
                In, j1 - j0, batch, GemmOptions.TransposeA);
            Span<float> db = store.Gradient(Bias)[j0..j1];
            db.Clear();
            for (int b = 0; b < batch; b++) TensorPrimitives.Add(db, dy.Slice(b * Out + j0, j1 - j0), db);
        }
        if (dx.IsEmpty) return;
        var (i0, i1) = Partition.Share(In, Granule, worker, workers);
        if (i0 >= i1) return;
        Gemm.Transpose(store.Value(Weight)[(i0 * Out)..], Out, wT[i0..], In, i1 - i0, Out);
        Gemm.Multiply(dy, Out, wT[i0..], In, default, dx[i0..], In, batch, i1 - i0, Out);
    }

    /// <summary>The dx columns this worker writes in <see cref="Backward"/>.</summary>
    internal (int Start, int End) InputShare(int worker, int workers) => Partition.Share(In, Granule, worker, workers);
}

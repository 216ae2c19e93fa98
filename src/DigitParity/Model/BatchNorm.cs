using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace DigitParity.Model;

/// <summary>
/// Batch normalization of a channels-last map, PyTorch's <c>BatchNorm2d</c>: x (N, C), N = samples · pixels, →
/// <code>
/// y = γ · (x − μ) / sqrt(σ² + ε) + β
/// </code>
/// with μ and σ² (biased) over the batch's N rows in training, and the running estimates otherwise, which each training
/// step moves by <see cref="Momentum"/> toward the batch's μ and its unbiased variance σ²·N/(N − 1), as PyTorch does.
/// Every statistic is one channel's, summed over rows in row order (in blocks of float sums added up in double), so a
/// channel's value does not depend on how channels are shared between workers.
/// </summary>
internal sealed class BatchNorm
{
    /// <summary>ε, PyTorch's and ONNX's default.</summary>
    public const float Epsilon = 1e-5f;

    /// <summary>How far a training step moves the running estimates: PyTorch's default.</summary>
    public const float Momentum = 0.1f;

    // Rows summed in float before their sums are added to the double totals.
    private const int Block = 64;

    /// <summary>Declares γ (C) and β (C), trained without weight decay, and the running mean and variance (C), not trained.</summary>
    public BatchNorm(ParameterLayout layout, string name, int channels)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        Channels = channels;
        Weight = layout.Add(name + ".weight", [channels], decay: false);
        Bias = layout.Add(name + ".bias", [channels], decay: false);
        RunningMean = layout.Add(name + ".running_mean", [channels], decay: false, trained: false);
        RunningVariance = layout.Add(name + ".running_var", [channels], decay: false, trained: false);
    }

    /// <summary>C.</summary>
    public int Channels { get; }

    /// <summary>γ (C).</summary>
    public ParameterTensor Weight { get; }

    /// <summary>β (C).</summary>
    public ParameterTensor Bias { get; }

    /// <summary>The running mean (C).</summary>
    public ParameterTensor RunningMean { get; }

    /// <summary>The running (unbiased) variance (C).</summary>
    public ParameterTensor RunningVariance { get; }

    /// <summary>PyTorch's initialization: γ = 1, β = 0, running mean 0, running variance 1.</summary>
    public void Initialize(ParameterStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        store.Value(Weight).Fill(1f);
        store.Value(Bias).Clear();
        store.Value(RunningMean).Clear();
        store.Value(RunningVariance).Fill(1f);
    }

    /// <summary>
    /// Channels [<paramref name="c0"/>, <paramref name="c1"/>) of the batch's statistics over rows [0, <paramref name="rows"/>) of
    /// x (N, C): μ into <paramref name="mean"/>, 1 / sqrt(σ² + ε) into <paramref name="inverseStd"/> (both C long), and the
    /// running estimates of those channels moved toward them.
    /// </summary>
    public void BatchStatistics(ParameterStore store, ReadOnlySpan<float> x, int rows, Span<float> mean, Span<float> inverseStd, int c0, int c1)
    {
        Check(x, rows, mean, inverseStd, c0, c1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 2);
        int width = c1 - c0;
        if (width == 0) return;
        Span<double> sums = width <= 512 ? stackalloc double[width] : new double[width];
        Span<float> block = width <= 512 ? stackalloc float[width] : new float[width];
        ColumnSums(x, rows, c0, c1, default, sums, block);
        for (int c = 0; c < width; c++) mean[c0 + c] = (float)(sums[c] / rows);
        ColumnSums(x, rows, c0, c1, mean, sums, block); // Σ (x − μ)²: no cancellation of E[x²] − μ²
        Span<float> runningMean = store.Value(RunningMean), runningVariance = store.Value(RunningVariance);
        for (int c = 0; c < width; c++)
        {
            double variance = sums[c] / rows;
            inverseStd[c0 + c] = (float)(1.0 / Math.Sqrt(variance + Epsilon));
            int k = c0 + c;
            runningMean[k] = (1 - Momentum) * runningMean[k] + Momentum * mean[k];
            runningVariance[k] = (float)((1 - Momentum) * runningVariance[k] + Momentum * variance * rows / (rows - 1));
        }
    }

    /// <summary>Every channel's running μ into <paramref name="mean"/> and 1 / sqrt(σ² + ε) into <paramref name="inverseStd"/>.</summary>
    public void RunningStatistics(ParameterStore store, Span<float> mean, Span<float> inverseStd)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (mean.Length < Channels || inverseStd.Length < Channels) throw new ArgumentException("mean or inverseStd is shorter than the channels.");
        store.Read(RunningMean).CopyTo(mean);
        ReadOnlySpan<float> variance = store.Read(RunningVariance);
        for (int c = 0; c < Channels; c++) inverseStd[c] = (float)(1.0 / Math.Sqrt(variance[c] + (double)Epsilon));
    }

    /// <summary>Rows [<paramref name="r0"/>, <paramref name="r1"/>) of y = γ·(x − μ)·inverseStd + β, as one fused multiply-add a value.</summary>
    public void Forward(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> inverseStd, Span<float> y, int r0, int r1)
    {
        Check(x, r1, mean, inverseStd, 0, Channels);
        if (y.Length < (long)r1 * Channels) throw new ArgumentException("y is too short for the rows.", nameof(y));
        // y = x·s + t with s = γ·inverseStd, t = β − μ·s.
        Span<float> scale = Channels <= 512 ? stackalloc float[Channels] : new float[Channels];
        Span<float> shift = Channels <= 512 ? stackalloc float[Channels] : new float[Channels];
        ReadOnlySpan<float> gamma = store.Read(Weight), beta = store.Read(Bias);
        for (int c = 0; c < Channels; c++)
        {
            scale[c] = gamma[c] * inverseStd[c];
            shift[c] = MathF.FusedMultiplyAdd(-mean[c], scale[c], beta[c]);
        }
        for (int r = r0; r < r1; r++) Affine(x.Slice(r * Channels, Channels), scale, shift, y.Slice(r * Channels, Channels));
    }

    /// <summary>
    /// Channels [<paramref name="c0"/>, <paramref name="c1"/>) of the parameters' gradients over the batch's rows [0, rows):
    /// dβ = Σ dy and dγ = Σ dy·x̂, x̂ = (x − μ)·inverseStd, into the store's gradients.
    /// </summary>
    public void BackwardSums(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> inverseStd, ReadOnlySpan<float> dy,
        int rows, int c0, int c1)
    {
        Check(x, rows, mean, inverseStd, c0, c1);
        if (dy.Length < (long)rows * Channels) throw new ArgumentException("dy is too short for the rows.", nameof(dy));
        int width = c1 - c0;
        if (width == 0) return;
        Span<double> sums = width <= 256 ? stackalloc double[2 * width] : new double[2 * width];
        Span<float> block = width <= 256 ? stackalloc float[2 * width] : new float[2 * width];
        sums.Clear();
        // Σ dy and Σ dy·(x − μ) in one pass, then the one scale by inverseStd.
        for (int start = 0; start < rows; start += Block)
        {
            block.Clear();
            for (int r = start; r < Math.Min(rows, start + Block); r++)
                AccumulateProducts(dy.Slice(r * Channels + c0, width), x.Slice(r * Channels + c0, width), mean.Slice(c0, width), block[..width], block[width..]);
            for (int c = 0; c < 2 * width; c++) sums[c] += block[c];
        }
        Span<float> dGamma = store.Gradient(Weight), dBeta = store.Gradient(Bias);
        for (int c = 0; c < width; c++)
        {
            dBeta[c0 + c] = (float)sums[c];
            dGamma[c0 + c] = (float)(sums[width + c] * inverseStd[c0 + c]);
        }
    }

    /// <summary>
    /// Rows [<paramref name="r0"/>, <paramref name="r1"/>) of the input gradient of a training step, once
    /// <see cref="BackwardSums"/> ran for every channel: dx = γ·inverseStd·(dy − (dβ + x̂·dγ) / N), N = <paramref name="rows"/>.
    /// </summary>
    public void BackwardInput(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> inverseStd, ReadOnlySpan<float> dy,
        Span<float> dx, int rows, int r0, int r1)
    {
        Check(x, rows, mean, inverseStd, 0, Channels);
        if (dy.Length < (long)rows * Channels || dx.Length < (long)rows * Channels) throw new ArgumentException("dy or dx is too short for the rows.");
        // dx = dy·s + x·u + v with s = γ·inverseStd, u = −s·inverseStd·dγ/N, v = −s·dβ/N − μ·u.
        Span<float> s = Channels <= 512 ? stackalloc float[Channels] : new float[Channels];
        Span<float> u = Channels <= 512 ? stackalloc float[Channels] : new float[Channels];
        Span<float> v = Channels <= 512 ? stackalloc float[Channels] : new float[Channels];
        ReadOnlySpan<float> gamma = store.Read(Weight), dGamma = store.Gradient(Weight), dBeta = store.Gradient(Bias);
        for (int c = 0; c < Channels; c++)
        {
            s[c] = gamma[c] * inverseStd[c];
            u[c] = -s[c] * inverseStd[c] * dGamma[c] / rows;
            v[c] = -s[c] * dBeta[c] / rows - mean[c] * u[c];
        }
        for (int r = r0; r < r1; r++)
        {
            int o = r * Channels;
            Affine(x.Slice(o, Channels), u, v, dx.Slice(o, Channels));
            Affine(dy.Slice(o, Channels), s, dx.Slice(o, Channels), dx.Slice(o, Channels));
        }
    }

    /// <summary>Rows [r0, r1) of the input gradient with fixed statistics (the running ones, for explanations): dx = dy·γ·inverseStd.</summary>
    public void BackwardInputFixed(ParameterStore store, ReadOnlySpan<float> inverseStd, ReadOnlySpan<float> dy, Span<float> dx, int r0, int r1)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (inverseStd.Length < Channels || dy.Length < (long)r1 * Channels || dx.Length < (long)r1 * Channels) throw new ArgumentException("A span is too short for the rows.");
        Span<float> scale = Channels <= 512 ? stackalloc float[Channels] : new float[Channels];
        ReadOnlySpan<float> gamma = store.Read(Weight);
        for (int c = 0; c < Channels; c++) scale[c] = gamma[c] * inverseStd[c];
        for (int r = r0; r < r1; r++)
            for (int c = 0; c < Channels; c++) dx[r * Channels + c] = dy[r * Channels + c] * scale[c];
    }

    // Per channel of [c0, c1): Σ over rows of x (center empty) or of (x − center)², in blocks of float sums.
    private void ColumnSums(ReadOnlySpan<float> x, int rows, int c0, int c1, ReadOnlySpan<float> center, Span<double> sums, Span<float> block)
    {
        int width = c1 - c0;
        sums[..width].Clear();
        for (int start = 0; start < rows; start += Block)
        {
            block[..width].Clear();
            int end = Math.Min(rows, start + Block);
            if (center.IsEmpty)
                for (int r = start; r < end; r++) Accumulate(x.Slice(r * Channels + c0, width), block);
            else
                for (int r = start; r < end; r++) AccumulateSquares(x.Slice(r * Channels + c0, width), center.Slice(c0, width), block);
            for (int c = 0; c < width; c++) sums[c] += block[c];
        }
    }

    // sum[c] += row[c], lane by lane.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate(ReadOnlySpan<float> row, Span<float> sum)
    {
        int c = 0;
        ref float r = ref MemoryMarshal.GetReference(row);
        ref float s = ref MemoryMarshal.GetReference(sum);
        for (; c + Vector256<float>.Count <= row.Length; c += Vector256<float>.Count)
            (Vector256.LoadUnsafe(ref s, (nuint)c) + Vector256.LoadUnsafe(ref r, (nuint)c)).StoreUnsafe(ref s, (nuint)c);
        for (; c < row.Length; c++) sum[c] += row[c];
    }

    // With d[c] = b[c] − center[c]: sum[c] += a[c] and products[c] += a[c]·d[c], one rounding each.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateProducts(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> center, Span<float> sum, Span<float> products)
    {
        int c = 0, n = a.Length;
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        ref float pc = ref MemoryMarshal.GetReference(center);
        ref float ps = ref MemoryMarshal.GetReference(sum);
        ref float pp = ref MemoryMarshal.GetReference(products);
        for (; c + Vector256<float>.Count <= n; c += Vector256<float>.Count)
        {
            var va = Vector256.LoadUnsafe(ref pa, (nuint)c);
            var d = Vector256.LoadUnsafe(ref pb, (nuint)c) - Vector256.LoadUnsafe(ref pc, (nuint)c);
            (Vector256.LoadUnsafe(ref ps, (nuint)c) + va).StoreUnsafe(ref ps, (nuint)c);
            Vector256.FusedMultiplyAdd(va, d, Vector256.LoadUnsafe(ref pp, (nuint)c)).StoreUnsafe(ref pp, (nuint)c);
        }
        for (; c < n; c++)
        {
            sum[c] += a[c];
            products[c] = MathF.FusedMultiplyAdd(a[c], b[c] - center[c], products[c]);
        }
    }

    // squares[c] += (x[c] − center[c])², one rounding.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateSquares(ReadOnlySpan<float> x, ReadOnlySpan<float> center, Span<float> squares)
    {
        int c = 0, n = x.Length;
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float pc = ref MemoryMarshal.GetReference(center);
        ref float pq = ref MemoryMarshal.GetReference(squares);
        for (; c + Vector256<float>.Count <= n; c += Vector256<float>.Count)
        {
            var d = Vector256.LoadUnsafe(ref px, (nuint)c) - Vector256.LoadUnsafe(ref pc, (nuint)c);
            Vector256.FusedMultiplyAdd(d, d, Vector256.LoadUnsafe(ref pq, (nuint)c)).StoreUnsafe(ref pq, (nuint)c);
        }
        for (; c < n; c++)
        {
            float d = x[c] - center[c];
            squares[c] = MathF.FusedMultiplyAdd(d, d, squares[c]);
        }
    }

    // y[c] = x[c]·scale[c] + shift[c], one rounding (y may be shift).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Affine(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, ReadOnlySpan<float> shift, Span<float> y)
    {
        int c = 0;
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float ps = ref MemoryMarshal.GetReference(scale);
        ref float pt = ref MemoryMarshal.GetReference(shift);
        ref float py = ref MemoryMarshal.GetReference(y);
        for (; c + Vector256<float>.Count <= x.Length; c += Vector256<float>.Count)
            Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)c), Vector256.LoadUnsafe(ref ps, (nuint)c), Vector256.LoadUnsafe(ref pt, (nuint)c))
                .StoreUnsafe(ref py, (nuint)c);
        for (; c < x.Length; c++) y[c] = MathF.FusedMultiplyAdd(x[c], scale[c], shift[c]);
    }

    private void Check(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> mean, ReadOnlySpan<float> inverseStd, int c0, int c1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        if (c0 < 0 || c1 > Channels || c0 > c1) throw new ArgumentOutOfRangeException(nameof(c1), $"channels [{c0}, {c1}) of {Channels}");
        if (x.Length < (long)rows * Channels) throw new ArgumentException("x is too short for the rows.", nameof(x));
        if (mean.Length < Channels || inverseStd.Length < Channels) throw new ArgumentException("mean or inverseStd is shorter than the channels.");
    }
}

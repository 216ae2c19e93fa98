using System.Numerics.Tensors;
using DigitParity.Engine;

namespace DigitParity.Model;

/// <summary>
/// Fully connected layer y = x·W + b, W logically (In, Out). W is stored in column panels of
/// <see cref="PanelWidth"/> columns: panel p holds columns [64p, 64p + 64) of every input row, (In, 64)
/// row-major, and the panels follow each other. A worker owns whole panels, so its block of W, of dW and
/// of the momentum is one contiguous stretch of memory that stays in its core's cache, and no cache
/// line (nor a prefetched neighbour) is ever shared with the other worker.
/// </summary>
internal sealed class Linear
{
    /// <summary>Columns per weight panel: one 5 × 64 micro-kernel tile wide.</summary>
    public const int PanelWidth = 64;

    /// <summary>Declares the layer's weight (In, Out) and bias (Out) in <paramref name="layout"/>.</summary>
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

    /// <summary>The weight tensor, logically (In, Out), stored in column panels.</summary>
    public ParameterTensor Weight { get; }

    /// <summary>The bias tensor, (Out).</summary>
    public ParameterTensor Bias { get; }

    /// <summary>Position of W[i, j] inside the weight tensor's storage.</summary>
    public int WeightIndex(int i, int j)
    {
        int panel = j / PanelWidth, start = panel * PanelWidth;
        return start * In + i * PanelColumns(start) + (j - start);
    }

    /// <summary>W as a plain row-major (In, Out) array.</summary>
    public float[] ReadWeight(ParameterStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return ReadWeight(store.Values);
    }

    /// <summary>W as a plain row-major (In, Out) array, from a buffer laid out like the parameters (e.g. momentum).</summary>
    public float[] ReadWeight(ReadOnlySpan<float> values)
    {
        var w = new float[In * Out];
        ReadOnlySpan<float> stored = values.Slice(Weight.Offset, Weight.Length);
        for (int i = 0; i < In; i++)
            for (int j = 0; j < Out; j++) w[i * Out + j] = stored[WeightIndex(i, j)];
        return w;
    }

    /// <summary>Sets W from a plain row-major (In, Out) array.</summary>
    public void WriteWeight(ParameterStore store, ReadOnlySpan<float> w)
    {
        ArgumentNullException.ThrowIfNull(store);
        WriteWeight(store.Values, w);
    }

    /// <summary>Sets W in a buffer laid out like the parameters (e.g. momentum) from a row-major (In, Out) array.</summary>
    public void WriteWeight(Span<float> values, ReadOnlySpan<float> w)
    {
        if (w.Length != In * Out) throw new ArgumentException($"Expected {In * Out} weights, got {w.Length}.", nameof(w));
        Span<float> stored = values.Slice(Weight.Offset, Weight.Length);
        for (int i = 0; i < In; i++)
            for (int j = 0; j < Out; j++) stored[WeightIndex(i, j)] = w[i * Out + j];
    }

    /// <summary>PyTorch's default: W and b uniform in ±1/sqrt(In), drawn in row-major (i, j) order.</summary>
    public void Initialize(ParameterStore store, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(rng);
        float bound = 1f / MathF.Sqrt(In);
        Span<float> w = store.Value(Weight);
        for (int i = 0; i < In; i++)
            for (int j = 0; j < Out; j++) w[WeightIndex(i, j)] = rng.NextUniform(bound);
        foreach (ref float b in store.Value(Bias)) b = rng.NextUniform(bound);
    }

    // x: (B, In) -> y: (B, Out) = x·W + b, then ReLU if asked: the share's rows (all columns) or its panels' columns
    // (all rows). Masks and bytes as LayerInput describes; the product trusts the masks instead of re-reading every
    // entry to check them (measured: the check cost as much as 10 % of fc1's products).
    internal void Forward(ParameterStore store, in LayerInput x, Span<float> y, int batch, bool relu, LinearShare share)
    {
        ReadOnlySpan<float> w = store.Read(Weight), bias = store.Read(Bias);
        var options = relu ? GemmOptions.Relu : GemmOptions.None;
        bool bytes = !x.Bytes.IsEmpty;
        if (share.ByRows)
        {
            int b0 = share.Start, b1 = share.End;
            if (b0 < b1)
                Gemm.Multiply(new GemmProduct(bytes ? default : x.Values[(b0 * In)..], In, w, Out, y[(b0 * Out)..], Out, b1 - b0, Out, In, options)
                {
                    Bias = bias,
                    DepthMasks = x.RowMasks.IsEmpty ? default : x.RowMasks[(b0 * ActiveDepth.MaskWords(In))..],
                    ABytes = bytes ? x.Bytes[(b0 * In)..] : default, ByteValues = x.ByteValues,
                });
            return;
        }
        for (int j = share.Start; j < share.End; j += PanelWidth)
        {
            int n = PanelColumns(j);
            Gemm.Multiply(new GemmProduct(x.Values, In, w[(j * In)..], n, y[j..], Out, batch, n, In, options)
            {
                Bias = bias[j..(j + n)], DepthMasks = x.RowMasks, ABytes = x.Bytes, ByteValues = x.ByteValues,
            });
        }
    }

    // Rows [b0, b1) of y (B, Out) = ReLU(x·W + b), each row visiting only its own non-zero inputs, lists[i · listStride ..]
    // (counts[i] of them, ascending). Each element is the chain Forward computes from the bias: Forward's 5-row tiles
    // also visit the inputs where another row of the tile is non-zero, steps that add ±0 and so change at most the sign
    // of a zero, which the ReLU makes +0. A prediction's pass, where the batch's rows are independent.
    internal unsafe void ForwardSparseRows(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<int> lists, int listStride, ReadOnlySpan<int> counts,
        Span<float> y, int b0, int b1)
    {
        if (b0 >= b1) return;
        ReadOnlySpan<float> w = store.Read(Weight), bias = store.Read(Bias);
        Span<float> rows = y[(b0 * Out)..(b1 * Out)];
        for (int b = 0; b < b1 - b0; b++) bias.CopyTo(rows.Slice(b * Out, Out));
        fixed (float* px = x, pw = w, py = rows)
        fixed (int* pl = lists, pc = counts)
            for (int j = 0; j < Out; j += PanelWidth)
            {
                int n = PanelColumns(j);
                if (Gemm.BestIsa == GemmIsa.Avx512 && j + 2 * PanelWidth <= Out)
                {
                    // Two whole panels are 8 vectors: one visit of each row's list for both.
                    SparseRows.MultiplyPanelPair(px + (nint)b0 * In, In, pl + (nint)b0 * listStride, listStride, pc + b0, b1 - b0, pw + (nint)j * In,
                        (nint)In * PanelWidth, py + j, Out, accumulate: true);
                    j += PanelWidth;
                    continue;
                }
                SparseRows.Multiply(px + (nint)b0 * In, In, pl + (nint)b0 * listStride, listStride, pc + b0, b1 - b0, pw + (nint)j * In, n, py + j, Out, n,
                    Gemm.BestIsa, accumulate: true);
            }
        TensorPrimitives.Max(rows, 0f, rows);
    }

    // dy: (B, Out) -> dW (In, Out) = xᵀ·dy, db (Out) = Σ_b dy, and dx (B, In) = dy·Wᵀ unless dx is empty; with
    // reluInput (x is a ReLU's output), dx through that ReLU: dy·Wᵀ where x > 0, else 0, in the product's epilogue.
    // The share says which part: dW and db for its panels (or, split by rows, the dW rows [InputStart, InputEnd) over
    // the whole batch, and db where SumsBias), and the dx columns [InputStart, InputEnd). Scratch (no barrier needed):
    // packed (B, Out) takes the share's panels of dy contiguously, since a strided dy block thrashes L1 (measured 20 %
    // slower); wT (Out, In) takes the transposed rows InputStart..InputEnd of W. x's tile masks let each 5-input tile
    // of dW skip the samples where it is zero.
    // With no dx to compute, `fuse` (momentum SGD) may update the share of W in the same pass as its gradient, which is
    // then not stored; returns whether it did (then Update skips W). Only the caller knows when no worker reads this
    // layer's weights any more in the step, so it passes `fuse` only then.
    internal bool Backward(ParameterStore store, in LayerInput x, ReadOnlySpan<float> dy, Span<float> dx, Span<float> packed, Span<float> wT, int batch,
        LinearShare share, IParameterUpdate? fuse = null, bool reluInput = false)
    {
        bool bytes = !x.Bytes.IsEmpty;
        if (bytes && !dx.IsEmpty) throw new ArgumentException("An input given as bytes has no gradient to pass on.", nameof(dx));
        Span<float> velocity = default;
        MomentumStep step = default;
        bool fused = dx.IsEmpty && fuse is not null && fuse.TryGetFusedStep(Weight, out velocity, out step);
        step = step with { KeepGradient = false }; // training reads a fused gradient nowhere else
        Span<float> weights = store.Value(Weight);
        Span<float> dw = store.Gradient(Weight), db = store.Gradient(Bias);
        int i0 = share.InputStart, i1 = share.InputEnd;
        if (share.ByRows)
        {
            if (i0 < i1)
                Gemm.Multiply(new GemmProduct(bytes ? default : x.Values[i0..], In, dy, Out, dw[(i0 * Out)..], Out, i1 - i0, Out, batch, GemmOptions.TransposeA)
                {
                    ABytes = bytes ? x.Bytes[i0..] : default, ByteValues = x.ByteValues,
                    UpdateWeights = fused ? weights[(i0 * Out)..] : default, UpdateVelocity = fused ? velocity[(i0 * Out)..] : default, Step = step,
                });
            if (share.SumsBias) ColumnSums(dy, batch, 0, Out, db);
        }
        else
        {
            for (int j = share.Start; j < share.End; j += PanelWidth)
            {
                int n = PanelColumns(j);
                ReadOnlySpan<float> dyPanel = dy[j..];
                if (n != Out)
                {
                    Span<float> panel = packed.Slice(j * batch, n * batch);
                    for (int b = 0; b < batch; b++) dy.Slice(b * Out + j, n).CopyTo(panel.Slice(b * n, n));
                    dyPanel = panel;
                }
                int ldy = n == Out ? Out : n;
                Gemm.Multiply(new GemmProduct(x.Values, In, dyPanel, ldy, dw[(j * In)..], n, In, n, batch, GemmOptions.TransposeA)
                {
                    DepthMasks = x.TileMasks, ABytes = x.Bytes, ByteValues = x.ByteValues,
                    UpdateWeights = fused ? weights[(j * In)..] : default, UpdateVelocity = fused ? velocity[(j * In)..] : default, Step = step,
                });
            }
            if (share.SumsBias) ColumnSums(dy, batch, share.Start, share.End, db[share.Start..share.End]);
        }
        if (dx.IsEmpty || i0 >= i1) return fused;
        for (int j = 0; j < Out; j += PanelWidth)
        {
            int n = PanelColumns(j);
            Gemm.Transpose(weights[(j * In + i0 * n)..], n, wT[(j * In + i0)..], In, i1 - i0, n);
        }
        Gemm.Multiply(new GemmProduct(dy, Out, wT[i0..], In, dx[i0..], In, batch, i1 - i0, Out) { Gate = reluInput ? x.Values[i0..] : default });
        return fused;
    }

    // dx rows [b0, b1) = dy·Wᵀ, through the ReLU whose output x is (dx = 0 where x = 0; no gate when x is empty): the input gradient of this
    // worker's own rows, from its own Wᵀ (wT, Out × In, transposed whole here), so it needs no other worker's rows or
    // share of Wᵀ and no barrier. Each element is the same chain of fmas over Out as in Backward: the same bits.
    internal void BackwardInputRows(ParameterStore store, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, Span<float> wT, int b0, int b1)
    {
        if (b0 >= b1) return;
        Span<float> w = store.Value(Weight);
        for (int j = 0; j < Out; j += PanelWidth)
        {
            int n = PanelColumns(j);
            Gemm.Transpose(w[(j * In)..], n, wT[(j * In)..], In, In, n);
        }
        Gemm.Multiply(new GemmProduct(dy[(b0 * Out)..], Out, wT, In, dx[(b0 * In)..], In, b1 - b0, In, Out) { Gate = x.IsEmpty ? default : x[(b0 * In)..] });
    }

    // Hands the share of W and b that Backward computed to the optimizer.
    internal void Update(IParameterUpdate update, LinearShare share, bool weightDone = false)
    {
        if (share.ByRows)
        {
            int i0 = share.InputStart, i1 = share.InputEnd;
            if (i0 < i1 && !weightDone) update.Apply(Weight, i0 * Out, (i1 - i0) * Out);
            if (share.SumsBias) update.Apply(Bias, 0, Out);
            return;
        }
        int j0 = share.Start, j1 = share.End;
        if (j0 >= j1) return;
        if (!weightDone) update.Apply(Weight, j0 * In, (j1 - j0) * In); // whole panels are contiguous
        update.Apply(Bias, j0, j1 - j0);
    }

    // db[c − j0] = Σ_b dy[b, c] for columns [j0, j1).
    private void ColumnSums(ReadOnlySpan<float> dy, int batch, int j0, int j1, Span<float> db)
    {
        db.Clear();
        for (int b = 0; b < batch; b++) TensorPrimitives.Add(db, dy.Slice(b * Out + j0, j1 - j0), db);
    }

    /// <summary>
    /// This layer's buffers for batches of up to <paramref name="maxBatch"/>, with <paramref name="transposedCopies"/>
    /// copies of Wᵀ: none for a layer that passes no input gradient on, one per worker for a layer whose input gradient is
    /// computed row by row.
    /// </summary>
    internal LinearBuffers CreateBuffers(int maxBatch, int transposedCopies) => new()
    {
        Output = new FloatBuffer(checked(maxBatch * Out)),
        OutputGradient = new FloatBuffer(checked(maxBatch * Out)),
        TransposedWeights = new FloatBuffer(checked(In * Out * transposedCopies)),
        PackedGradient = new FloatBuffer(checked(maxBatch * Out)),
    };

    /// <summary>Width of the panel that starts at column <paramref name="start"/> (the last may be narrower).</summary>
    private int PanelColumns(int start) => Math.Min(PanelWidth, Out - start);
}

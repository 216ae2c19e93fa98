using DigitParity.Engine;

namespace DigitParity.Model;

// The gradient of the logits with respect to the input image, for explanations: the forward pass, then the backward
// pass of a training step without any weight gradient, and on through fc1 (or conv1) to the pixels, which training
// never needs.
public sealed partial class MultiTaskNetwork
{
    // Rows [0, rows) of ws.Input are filled (B, InputSize); dlogits (B, HeadWidth) -> dx (B, InputSize) = ∂(Σ dlogits ·
    // logits)/∂x, row by row. ws is a training workspace of one worker (the backward buffers); no dropout is applied.
    internal void InputGradient(Workspace ws, InputGradientBuffers buffers, WorkerPool pool, int rows, ReadOnlySpan<float> dlogits, Span<float> dx)
    {
        if (!ws.Training || ws.Workers != 1 || pool.Count != 1 || ws.DropoutKey is not null)
            throw new ArgumentException("The input gradient runs on a one-worker training workspace without dropout.", nameof(ws));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, ws.MaxBatch);
        if (dlogits.Length < rows * Config.HeadWidth || dx.Length < rows * Config.InputSize)
            throw new ArgumentException("dlogits or dx is too short for the rows.");
        IndexInput(ws, rows, 0, rows);
        Forward(ws, rows, pool, 0);

        // Heads and trunk, top down, each through the ReLU before it: d(layer l's input) = dy·Wᵀ where its input > 0.
        int last = Trunk.Count - 1;
        Heads.BackwardInputRows(Parameters, ws.Layers[last].Output, dlogits, ws.Layers[last].OutputGradient, ws.Layers[Trunk.Count].TransposedWeights, 0, rows);
        for (int l = last; l >= 1; l--)
            Trunk[l].BackwardInputRows(Parameters, ws.Layers[l - 1].Output, ws.Layers[l].OutputGradient, ws.Layers[l - 1].OutputGradient,
                ws.Layers[l].TransposedWeights, 0, rows);
        // fc1 without a gate: its input is the pixels (no ReLU's output) or the pooled features, whose ReLU the
        // pooling's backward applies.
        var fc1 = Trunk[0];
        Span<float> features = Convolutions.Count == 0 ? dx : ws.Stages[^1].NormalizedGradient.Span;
        fc1.BackwardInputRows(Parameters, default, ws.Layers[0].OutputGradient, features, buffers.Fc1Transposed, 0, rows);
        if (Convolutions.Count == 0) return;

        // Convolution stages after the first: (batch norm,) pool+ReLU backward, then dx = col2im(dy·Wᵀ) into the stage
        // below's normalized gradient.
        for (int l = Convolutions.Count - 1; l >= 1; l--)
        {
            var conv = Convolutions[l];
            var stage = ws.Stages[l];
            BackwardNormFixed(ws, l, rows);
            Gemm.Transpose(Parameters.Read(conv.Weight), conv.OutChannels, stage.TransposedWeight, conv.Depth, conv.Depth, conv.OutChannels);
            MaxPool2d.Backward(stage.Output, stage.Pooled, stage.PooledGradient, stage.OutputGradient, conv.OutHeight, conv.OutWidth, conv.OutChannels, 0, rows);
            conv.BackwardInput(stage.TransposedWeight, stage.OutputGradient, stage.ColumnGradient, ws.Stages[l - 1].NormalizedGradient, 0, rows);
        }
        BackwardNormFixed(ws, 0, rows);

        // The first stage keeps no full-size output in training, only each pooled element's winner (MaxPool2d.NoWinner
        // where no gradient passes): the gradient goes to that pixel of the window, then through conv1 to the pixels.
        var first = Convolutions[0];
        var winners = ws.Stages[0].Winners;
        ReadOnlySpan<float> pooledGradient = ws.Stages[0].PooledGradient.Span;
        int oh = first.OutHeight / 2, ow = first.OutWidth / 2, channels = first.OutChannels;
        Span<float> outputGradient = buffers.FirstOutputGradient.AsSpan(0, rows * first.OutSize);
        outputGradient.Clear();
        for (int b = 0; b < rows; b++)
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++)
                    for (int c = 0; c < channels; c++)
                    {
                        int p = ((b * oh + py) * ow + px) * channels + c, winner = winners[p];
                        if (winner == MaxPool2d.NoWinner) continue;
                        int y = 2 * py + (winner >> 1), x = 2 * px + (winner & 1);
                        outputGradient[((b * first.OutHeight + y) * first.OutWidth + x) * channels + c] = pooledGradient[p];
                    }
        Gemm.Transpose(Parameters.Read(first.Weight), channels, buffers.FirstTransposed, first.Depth, first.Depth, channels);
        first.BackwardInput(buffers.FirstTransposed, outputGradient, buffers.FirstColumnGradient, dx, 0, rows);
    }

    // With batch norm, rows [0, rows) of stage l's normalized gradient -> its pooled gradient, by the running statistics
    // the forward pass normalized with.
    private void BackwardNormFixed(Workspace ws, int l, int rows)
    {
        if (Norms.Count == 0) return;
        var norm = Norms[l];
        Span<float> mean = stackalloc float[norm.Channels], inverseStd = stackalloc float[norm.Channels];
        norm.RunningStatistics(Parameters, mean, inverseStd);
        int pixels = Convolutions[l].PooledPixels;
        norm.BackwardInputFixed(Parameters, inverseStd, ws.Stages[l].NormalizedGradient, ws.Stages[l].PooledGradient, 0, rows * pixels);
    }

    // The buffers InputGradient needs beyond a training workspace's, for up to maxRows rows.
    internal InputGradientBuffers CreateInputGradientBuffers(int maxRows)
    {
        var first = Convolutions.Count > 0 ? Convolutions[0] : null;
        return new InputGradientBuffers
        {
            Fc1Transposed = new float[Trunk[0].In * Trunk[0].Out],
            FirstOutputGradient = new float[first is null ? 0 : maxRows * first.OutSize],
            FirstTransposed = new float[first is null ? 0 : first.Depth * first.OutChannels],
            FirstColumnGradient = new float[first is null ? 0 : maxRows * first.OutPixels * first.Depth],
        };
    }
}

/// <summary>Scratch of <c>MultiTaskNetwork.InputGradient</c>: fc1's Wᵀ, and for conv1 its output gradient, Wᵀ and dcols.</summary>
internal sealed class InputGradientBuffers
{
    public required float[] Fc1Transposed { get; init; }

    public required float[] FirstOutputGradient { get; init; }

    public required float[] FirstTransposed { get; init; }

    public required float[] FirstColumnGradient { get; init; }
}

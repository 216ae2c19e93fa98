using System.Numerics.Tensors;

namespace DigitParity.Model;

/// <summary>Softmax + cross-entropy of every head at once, over the combined head output.</summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>
    /// logits: (B, width), where head t owns columns [offsets[t], offsets[t] + classes[t]).
    /// Per head, writes the summed loss Σ_b −log softmax(logits_b)[label_b] to <paramref name="taskLosses"/>
    /// and each row's argmax to <paramref name="predictions"/>; log-softmax is computed stably as
    /// x − max − log Σ exp(x − max). <paramref name="work"/> (B × width) receives the gradient of
    /// <c>scale × loss</c>, dlogits = scale · (softmax − onehot(label)); for evaluation it is scratch.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> logits, int width, ReadOnlySpan<int> offsets, ReadOnlySpan<int> classes,
        IReadOnlyList<int[]> labels, IReadOnlyList<int[]> predictions, int batch, float scale, Span<float> work, Span<double> taskLosses)
    {
        int tasks = offsets.Length;
        if (classes.Length != tasks || labels.Count < tasks || predictions.Count < tasks || taskLosses.Length < tasks)
            throw new ArgumentException("offsets, classes, labels, predictions and taskLosses must cover every task.");
        for (int t = 0; t < tasks; t++)
        {
            if (classes[t] < 1 || offsets[t] < 0 || offsets[t] + classes[t] > width) throw new ArgumentException($"Head {t} lies outside the {width} logits.");
            if (labels[t].Length < batch || predictions[t].Length < batch) throw new ArgumentException($"Head {t}: labels or predictions shorter than the batch.");
        }
        if (logits.Length < batch * width || work.Length < batch * width) throw new ArgumentException("logits or work shorter than batch × width.");
        taskLosses[..tasks].Clear();
        Span<float> all = work[..(batch * width)];

        // 1. Shift each head's row by its max; argmax; the loss's −(x[label] − max) term.
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < tasks; t++)
            {
                int at = b * width + offsets[t];
                ReadOnlySpan<float> row = logits.Slice(at, classes[t]);
                int label = labels[t][b];
                if ((uint)label >= (uint)classes[t]) throw new ArgumentOutOfRangeException(nameof(labels), $"label {label} of head {t} is outside 0-{classes[t] - 1}.");
                int argmax = TensorPrimitives.IndexOfMax(row);
                float max = row[argmax];
                TensorPrimitives.Subtract(row, max, work.Slice(at, classes[t]));
                predictions[t][b] = argmax;
                taskLosses[t] -= work[at + label];
            }
        }

        // 2. One vectorised exp over the whole (B, width) block.
        TensorPrimitives.Exp(all, all);

        // 3. log Σ exp completes the loss; exp / Σ exp − onehot is the gradient.
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < tasks; t++)
            {
                Span<float> row = work.Slice(b * width + offsets[t], classes[t]);
                float sum = TensorPrimitives.Sum(row);
                taskLosses[t] += MathF.Log(sum);
                TensorPrimitives.Multiply(row, scale / sum, row);
                row[labels[t][b]] -= scale;
            }
        }
    }
}

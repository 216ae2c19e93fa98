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
        //    Rows are 2-10 wide: plain loops beat a library call per row here.
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < tasks; t++)
            {
                int at = b * width + offsets[t], count = classes[t];
                ReadOnlySpan<float> row = logits.Slice(at, count);
                Span<float> shifted = work.Slice(at, count);
                int label = labels[t][b];
                if ((uint)label >= (uint)count) throw new ArgumentOutOfRangeException(nameof(labels), $"label {label} of head {t} is outside 0-{count - 1}.");
                int argmax = 0;
                for (int c = 1; c < count; c++) if (row[c] > row[argmax]) argmax = c;
                float max = row[argmax];
                for (int c = 0; c < count; c++) shifted[c] = row[c] - max;
                predictions[t][b] = argmax;
                taskLosses[t] -= shifted[label];
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
                float sum = 0f;
                for (int c = 0; c < row.Length; c++) sum += row[c];
                taskLosses[t] += MathF.Log(sum);
                float factor = scale / sum;
                for (int c = 0; c < row.Length; c++) row[c] *= factor;
                row[labels[t][b]] -= scale;
            }
        }
    }
}

using System.Numerics.Tensors;

namespace DigitParity.Model;

/// <summary>Softmax + cross-entropy of every head at once, over the combined head output.</summary>
internal static class SoftmaxCrossEntropy
{
    /// <summary>
    /// logits: (B, width), where head t owns columns [offsets[t], offsets[t] + classes[t]). For the rows
    /// [<paramref name="rowStart"/>, <paramref name="rowEnd"/>): writes each head's loss −log softmax(logits_b)[label_b]
    /// to <c>rowLosses[b·heads + t]</c> and its argmax to <c>predictions[t][b]</c>; log-softmax is computed stably as
    /// x − max − log Σ exp(x − max). <paramref name="work"/> (B × width) receives the gradient of
    /// <c>scales[t] × loss</c> per head, dlogits = scales[t] · (softmax − onehot(label)); for evaluation it is scratch.
    /// With label <paramref name="smoothing"/> ε the target is (1 − ε) · onehot(label) + ε / K for K classes, the loss
    /// −Σ_c target_c · log softmax_c and dlogits = scales[t] · (softmax − target); ε = 0 is plain cross-entropy.
    /// Rows are independent, so workers may take disjoint row ranges.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> logits, int width, ReadOnlySpan<int> offsets, ReadOnlySpan<int> classes,
        IReadOnlyList<int[]> labels, IReadOnlyList<int[]> predictions, int rowStart, int rowEnd, ReadOnlySpan<float> scales, float smoothing,
        Span<float> work, Span<double> rowLosses)
    {
        if (!(smoothing >= 0f && smoothing < 1f)) throw new ArgumentOutOfRangeException(nameof(smoothing), $"label smoothing must be in [0, 1) (got {smoothing}).");
        int tasks = offsets.Length;
        if (classes.Length != tasks || scales.Length != tasks || labels.Count < tasks || predictions.Count < tasks)
            throw new ArgumentException("offsets, classes, scales, labels and predictions must cover every head.");
        if (rowStart < 0 || rowEnd < rowStart) throw new ArgumentOutOfRangeException(nameof(rowEnd));
        for (int t = 0; t < tasks; t++)
        {
            if (classes[t] < 1 || offsets[t] < 0 || offsets[t] + classes[t] > width) throw new ArgumentException($"Head {t} lies outside the {width} logits.");
            if (labels[t].Length < rowEnd || predictions[t].Length < rowEnd) throw new ArgumentException($"Head {t}: labels or predictions shorter than the rows.");
        }
        if (logits.Length < rowEnd * width || work.Length < rowEnd * width || rowLosses.Length < rowEnd * tasks)
            throw new ArgumentException("logits, work or rowLosses too short for the rows.");

        // 1. Shift each head's row by its max; argmax. Rows are 2-10 wide: plain loops beat a library call per row.
        // Heads outside, rows inside: each head's label and prediction arrays are fetched once, not per row (through
        // IReadOnlyList, a fetch is an interface call; per row they cost as much as the rest of the loss).
        for (int t = 0; t < tasks; t++)
        {
            int[] headLabels = labels[t], headPredictions = predictions[t];
            int offset = offsets[t], count = classes[t];
            for (int b = rowStart; b < rowEnd; b++)
            {
                int at = b * width + offset;
                ReadOnlySpan<float> row = logits.Slice(at, count);
                Span<float> shifted = work.Slice(at, count);
                int label = headLabels[b];
                if ((uint)label >= (uint)count) throw new ArgumentOutOfRangeException(nameof(labels), $"label {label} of head {t} is outside 0-{count - 1}.");
                int argmax = 0;
                for (int c = 1; c < count; c++) if (row[c] > row[argmax]) argmax = c;
                float max = row[argmax];
                for (int c = 0; c < count; c++) shifted[c] = row[c] - max;
                headPredictions[b] = argmax;
                if (smoothing == 0f) rowLosses[b * tasks + t] = -shifted[label];
                else
                {
                    // −Σ target_c · (x_c − max) of the loss; log Σ exp is added below (the targets sum to 1).
                    double spread = 0;
                    for (int c = 0; c < count; c++) spread += shifted[c];
                    rowLosses[b * tasks + t] = -(1.0 - smoothing) * shifted[label] - smoothing / count * spread;
                }
            }
        }

        // 2. One vectorised exp over the whole block of rows.
        Span<float> block = work[(rowStart * width)..(rowEnd * width)];
        TensorPrimitives.Exp(block, block);

        // 3. log Σ exp completes the loss; exp / Σ exp − onehot is the gradient.
        for (int t = 0; t < tasks; t++)
        {
            int[] headLabels = labels[t];
            int offset = offsets[t], count = classes[t];
            float scale = scales[t], floor = scale * smoothing / count, hit = scale * (1f - smoothing);
            for (int b = rowStart; b < rowEnd; b++)
            {
                Span<float> row = work.Slice(b * width + offset, count);
                float sum = 0f;
                for (int c = 0; c < row.Length; c++) sum += row[c];
                rowLosses[b * tasks + t] += MathF.Log(sum);
                float factor = scale / sum;
                if (smoothing == 0f)
                {
                    for (int c = 0; c < row.Length; c++) row[c] *= factor;
                    row[headLabels[b]] -= scale;
                }
                else
                {
                    for (int c = 0; c < row.Length; c++) row[c] = row[c] * factor - floor;
                    row[headLabels[b]] -= hit;
                }
            }
        }
    }

    /// <summary>Per head, the sum over rows [0, batch) of <paramref name="rowLosses"/>, in row order (so any split gives the same bits).</summary>
    public static void SumRows(ReadOnlySpan<double> rowLosses, int batch, Span<double> taskLosses)
    {
        int tasks = taskLosses.Length;
        if (rowLosses.Length < batch * tasks) throw new ArgumentException("rowLosses too short.", nameof(rowLosses));
        taskLosses.Clear();
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < tasks; t++) taskLosses[t] += rowLosses[b * tasks + t];
    }
}

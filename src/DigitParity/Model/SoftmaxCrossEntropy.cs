namespace DigitParity.Model;

/// <summary>Softmax + cross-entropy of one head, over a column block of the combined head output.</summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>
    /// logits: (B, C) rows of stride <paramref name="stride"/> -> summed loss Σ_b −log softmax(logits_b)[label_b].
    /// log-softmax is computed stably as x − max − log Σ exp(x − max).
    /// Writes each row's argmax to <paramref name="predictions"/> and, unless <paramref name="dlogits"/> is empty,
    /// the gradient of <c>scale × loss</c>: dlogits = scale · (softmax − onehot(label)).
    /// </summary>
    public static double Forward(ReadOnlySpan<float> logits, int stride, int classes, ReadOnlySpan<int> labels,
        Span<int> predictions, Span<float> dlogits, float scale)
    {
        int batch = labels.Length;
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, classes);
        if (batch == 0) return 0;
        if (logits.Length < (batch - 1) * stride + classes) throw new ArgumentException("logits too short for the batch.", nameof(logits));
        if (predictions.Length < batch) throw new ArgumentException("predictions too short for the batch.", nameof(predictions));
        if (!dlogits.IsEmpty && dlogits.Length < (batch - 1) * stride + classes) throw new ArgumentException("dlogits too short for the batch.", nameof(dlogits));
        double loss = 0;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> row = logits.Slice(b * stride, classes);
            int label = labels[b];
            if ((uint)label >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(labels), $"label {label} is outside 0-{classes - 1}.");
            int argmax = 0;
            float max = row[0];
            for (int c = 1; c < classes; c++)
            {
                if (row[c] > max) { max = row[c]; argmax = c; }
            }
            float sum = 0f;
            for (int c = 0; c < classes; c++) sum += MathF.Exp(row[c] - max);
            float logSum = MathF.Log(sum);
            loss += logSum - (row[label] - max);
            predictions[b] = argmax;
            if (dlogits.IsEmpty) continue;
            Span<float> grad = dlogits.Slice(b * stride, classes);
            float inverse = 1f / sum;
            for (int c = 0; c < classes; c++) grad[c] = scale * (MathF.Exp(row[c] - max) * inverse);
            grad[label] -= scale;
        }
        return loss;
    }
}

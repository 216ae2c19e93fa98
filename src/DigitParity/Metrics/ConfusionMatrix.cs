namespace DigitParity.Metrics;

/// <summary>Counts of (true label, predicted label) pairs: row = true label, column = predicted.</summary>
internal sealed class ConfusionMatrix
{
    private readonly long[] _counts;

    /// <summary>An empty matrix for <paramref name="classes"/> classes.</summary>
    public ConfusionMatrix(int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        Classes = classes;
        _counts = new long[classes * classes];
    }

    /// <summary>Number of classes (rows and columns).</summary>
    public int Classes { get; }

    /// <summary>Samples of class <paramref name="actual"/> predicted as <paramref name="predicted"/>.</summary>
    public long this[int actual, int predicted] => _counts[actual * Classes + predicted];

    /// <summary>Samples counted.</summary>
    public long Total { get; private set; }

    /// <summary>Samples on the diagonal.</summary>
    public long Correct { get; private set; }

    /// <summary>Correct / Total (0 when empty).</summary>
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    /// <summary>Counts one prediction.</summary>
    public void Add(int actual, int predicted)
    {
        if ((uint)actual >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(actual), $"label {actual} is outside 0-{Classes - 1}.");
        if ((uint)predicted >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(predicted), $"prediction {predicted} is outside 0-{Classes - 1}.");
        _counts[actual * Classes + predicted]++;
        Total++;
        if (actual == predicted) Correct++;
    }

    /// <summary>Counts a batch of predictions.</summary>
    public void Add(ReadOnlySpan<int> actual, ReadOnlySpan<int> predicted)
    {
        if (actual.Length != predicted.Length) throw new ArgumentException("labels and predictions differ in length.");
        for (int i = 0; i < actual.Length; i++) Add(actual[i], predicted[i]);
    }

    /// <summary>Clears every count.</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        Total = 0;
        Correct = 0;
    }

    /// <summary>The counts as a jagged array, rows = true labels.</summary>
    public long[][] ToArray()
    {
        var rows = new long[Classes][];
        for (int r = 0; r < Classes; r++) rows[r] = _counts.AsSpan(r * Classes, Classes).ToArray();
        return rows;
    }
}

using DigitParity.Tasks;

namespace DigitParity.Metrics;

/// <summary>
/// Accumulates predictions and losses of every task, computes a <see cref="MetricsSnapshot"/>, and resets.
/// Unlike the tutorial's metric, <see cref="Reset"/> clears everything, so figures never leak between epochs
/// or between training and validation.
/// </summary>
internal sealed class MultiTaskMetric
{
    private readonly IReadOnlyList<TaskDefinition> _tasks;
    private readonly ConfusionMatrix[] _confusion;
    private readonly double[] _lossSums;
    private long _samples;

    /// <summary>An empty metric for <paramref name="tasks"/>.</summary>
    public MultiTaskMetric(IReadOnlyList<TaskDefinition> tasks)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        _tasks = tasks;
        _confusion = tasks.Select(t => new ConfusionMatrix(t.ClassCount)).ToArray();
        _lossSums = new double[tasks.Count];
    }

    /// <summary>Samples accumulated since the last reset.</summary>
    public long Samples => _samples;

    /// <summary>The confusion matrix of task <paramref name="task"/>.</summary>
    public ConfusionMatrix Confusion(int task) => _confusion[task];

    /// <summary>Adds a batch: per task, the labels, the predictions and the summed loss over the batch.</summary>
    public void Update(int batch, IReadOnlyList<int[]> labels, IReadOnlyList<int[]> predictions, ReadOnlySpan<double> taskLossSums)
    {
        for (int t = 0; t < _tasks.Count; t++)
        {
            _confusion[t].Add(labels[t].AsSpan(0, batch), predictions[t].AsSpan(0, batch));
            _lossSums[t] += taskLossSums[t];
        }
        _samples += batch;
    }

    /// <summary>Pooled accuracy so far (cheap; for progress lines).</summary>
    public double PooledAccuracy => _samples == 0 ? 0 : (double)_confusion.Sum(c => c.Correct) / (_samples * _tasks.Count);

    /// <summary>Mean total loss per sample so far.</summary>
    public double Loss => _samples == 0 ? 0 : _lossSums.Sum() / _samples;

    /// <summary>The figures accumulated since the last reset.</summary>
    public MetricsSnapshot Compute()
    {
        var tasks = new TaskMetrics[_tasks.Count];
        for (int t = 0; t < tasks.Length; t++)
            tasks[t] = new TaskMetrics(_tasks[t].Name, _samples == 0 ? 0 : _lossSums[t] / _samples, _confusion[t].Accuracy, _confusion[t].ToArray());
        return new MetricsSnapshot(_samples, Loss, PooledAccuracy, tasks);
    }

    /// <summary>Clears every count and loss.</summary>
    public void Reset()
    {
        foreach (var c in _confusion) c.Reset();
        Array.Clear(_lossSums);
        _samples = 0;
    }
}

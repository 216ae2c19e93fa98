namespace DigitParity.Metrics;

/// <summary>One task's figures over a pass.</summary>
/// <param name="Name">Task name.</param>
/// <param name="Loss">Mean cross-entropy of this head.</param>
/// <param name="Accuracy">Fraction of correct predictions.</param>
/// <param name="Confusion">Counts, rows = true label, columns = predicted.</param>
public sealed record TaskMetrics(string Name, double Loss, double Accuracy, long[][] Confusion);

/// <summary>All tasks' figures over a pass (an epoch of training, or a validation pass).</summary>
/// <param name="Samples">Samples seen.</param>
/// <param name="Loss">Mean total loss per sample (the sum of the heads' losses).</param>
/// <param name="PooledAccuracy">Correct predictions over all tasks / (samples × tasks).</param>
/// <param name="Tasks">Per-task figures, in head order.</param>
public sealed record MetricsSnapshot(long Samples, double Loss, double PooledAccuracy, IReadOnlyList<TaskMetrics> Tasks)
{
    /// <summary>Figures of the task called <paramref name="name"/>.</summary>
    public TaskMetrics this[string name] => Tasks.First(t => t.Name == name);
}

using DigitParity.Data;

namespace DigitParity.Metrics;

/// <summary>How a derived head relates to the class head's answer, over a pass.</summary>
/// <param name="Task">The derived task (e.g. parity).</param>
/// <param name="Samples">Samples counted.</param>
/// <param name="Agreement">Fraction where the derived head's answer equals the task of the class head's answer.</param>
/// <param name="ClassAccuracyWhenAgree">Class head accuracy on the samples where the heads agree.</param>
/// <param name="ClassAccuracyWhenDisagree">Class head accuracy where they disagree.</param>
/// <param name="TaskAccuracyWhenAgree">Derived head accuracy where they agree.</param>
/// <param name="TaskAccuracyWhenDisagree">Derived head accuracy where they disagree.</param>
public sealed record ConsistencyFigures(string Task, long Samples, double Agreement, double ClassAccuracyWhenAgree,
    double ClassAccuracyWhenDisagree, double TaskAccuracyWhenAgree, double TaskAccuracyWhenDisagree);

/// <summary>One class of one task: precision, recall and F1 from a confusion matrix.</summary>
/// <param name="Class">Class index.</param>
/// <param name="Name">Display name.</param>
/// <param name="Precision">Correct / predicted as this class (0 when never predicted).</param>
/// <param name="Recall">Correct / truly this class (0 when absent).</param>
/// <param name="F1">Harmonic mean of precision and recall (0 when both are 0).</param>
/// <param name="Support">Samples truly of this class.</param>
public sealed record ClassFigures(int Class, string Name, double Precision, double Recall, double F1, long Support)
{
    /// <summary>Per-class figures of a confusion matrix (rows = true, columns = predicted).</summary>
    public static IReadOnlyList<ClassFigures> From(TaskDefinition task, long[][] confusion)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(confusion);
        var figures = new ClassFigures[confusion.Length];
        for (int c = 0; c < confusion.Length; c++)
        {
            long correct = confusion[c][c], support = confusion[c].Sum(), predicted = confusion.Sum(row => row[c]);
            double precision = predicted == 0 ? 0 : (double)correct / predicted;
            double recall = support == 0 ? 0 : (double)correct / support;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            figures[c] = new ClassFigures(c, task.ClassName(c), precision, recall, f1, support);
        }
        return figures;
    }
}

/// <summary>
/// Counts, for every derived head, whether its answer agrees with what the class head's answer implies (the parity
/// of the predicted digit, for the parity head), and how accurate each head is when they agree and when they don't.
/// The class head is the first task (<c>digit</c>, or <c>class</c> for another dataset).
/// </summary>
public sealed class HeadConsistency
{
    private readonly IReadOnlyList<TaskDefinition> _tasks;
    private readonly int _classTask;
    private readonly long[,] _counts; // per task: agree, agreeClassCorrect, agreeTaskCorrect, disagreeClassCorrect, disagreeTaskCorrect
    private long _samples;

    /// <summary>Consistency of every task other than the class head (<paramref name="classTask"/>, default the first task) with it.</summary>
    public HeadConsistency(IReadOnlyList<TaskDefinition> tasks, string? classTask = null)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        _tasks = tasks;
        _classTask = classTask is null ? (tasks.Count > 0 ? 0 : -1) : tasks.Select(t => t.Name).ToList().IndexOf(classTask);
        _counts = new long[tasks.Count, 5];
    }

    /// <summary>Whether the tasks include the class task (otherwise there is nothing to compare).</summary>
    public bool Applies => _classTask >= 0 && _tasks.Count > 1;

    /// <summary>Adds a batch of labels and predictions (per task).</summary>
    public void Update(int batch, IReadOnlyList<int[]> labels, IReadOnlyList<int[]> predictions)
    {
        if (!Applies) return;
        int[] classLabels = labels[_classTask], classPredictions = predictions[_classTask];
        for (int t = 0; t < _tasks.Count; t++)
        {
            if (t == _classTask) continue;
            var task = _tasks[t];
            for (int b = 0; b < batch; b++)
            {
                bool agree = predictions[t][b] == task.LabelOf(classPredictions[b]);
                bool classCorrect = classPredictions[b] == classLabels[b], taskCorrect = predictions[t][b] == labels[t][b];
                if (agree)
                {
                    _counts[t, 0]++;
                    if (classCorrect) _counts[t, 1]++;
                    if (taskCorrect) _counts[t, 2]++;
                }
                else
                {
                    if (classCorrect) _counts[t, 3]++;
                    if (taskCorrect) _counts[t, 4]++;
                }
            }
        }
        _samples += batch;
    }

    /// <summary>The figures of every derived task.</summary>
    public IReadOnlyList<ConsistencyFigures> Compute()
    {
        var figures = new List<ConsistencyFigures>();
        if (!Applies) return figures;
        for (int t = 0; t < _tasks.Count; t++)
        {
            if (t == _classTask) continue;
            long agree = _counts[t, 0], disagree = _samples - agree;
            static double Ratio(long a, long b) => b == 0 ? 0 : (double)a / b;
            figures.Add(new ConsistencyFigures(_tasks[t].Name, _samples, Ratio(agree, _samples),
                Ratio(_counts[t, 1], agree), Ratio(_counts[t, 3], disagree), Ratio(_counts[t, 2], agree), Ratio(_counts[t, 4], disagree)));
        }
        return figures;
    }
}

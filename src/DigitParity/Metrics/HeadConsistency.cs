using DigitParity.Tasks;

namespace DigitParity.Metrics;

/// <summary>
/// Counts, for every derived head, whether its answer agrees with what the class head's answer implies (the parity
/// of the predicted digit, for the parity head), and how accurate each head is when they agree and when they don't.
/// The class head is the first task (<c>digit</c>, or <c>class</c> for another dataset).
/// </summary>
internal sealed class HeadConsistency
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

using System.Globalization;
using System.Text;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Training;

namespace DigitParity.Cli;

/// <summary>
/// Renders a training run like the original tutorial: speed lines every log interval, then per epoch the
/// training metric, the time cost, the validation metric and one confusion matrix per task. This is the piped
/// (plain text) rendering; a terminal gets <see cref="LiveTrainingReporter"/>.
/// </summary>
internal sealed class TrainingReporter(TextWriter output, IReadOnlyList<TaskDefinition> tasks,
    Action<IReadOnlyList<EpochResult>>? epochDone = null) : ITrainingCallbacks
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private readonly List<EpochResult> _epochs = [];

    public void OnProgress(BatchProgress progress)
    {
        string line = string.Create(Invariant,
            $"Epoch[{progress.Epoch}] Batch [{progress.Batch}/{progress.BatchesPerEpoch}]  Speed: {progress.SamplesPerSecond:0.00} samples/sec  {Figures("Train", progress.Running)}");
        output.WriteLine(line);
    }

    public void OnEpochCompleted(EpochResult result)
    {
        output.WriteLine(string.Create(Invariant, $"Epoch[{result.Epoch}] {Figures("Train", result.Train)}"));
        output.WriteLine(string.Create(Invariant, $"Epoch[{result.Epoch}] Time cost={result.Seconds:0.000} s  ({result.SamplesPerSecond:0} samples/sec)"));
        output.WriteLine(string.Create(Invariant, $"Epoch[{result.Epoch}] {Figures("Validation", result.Validation)}"));
        for (int t = 0; t < tasks.Count; t++)
        {
            output.WriteLine();
            output.Write(ConfusionTable.Render(tasks[t], result.Validation.Tasks[t].Confusion));
        }
        output.WriteLine();
        _epochs.Add(result);
        epochDone?.Invoke(_epochs);
    }

    /// <summary>"Train-accuracy=0.951234  digit=0.9412 parity=0.9612  loss=0.3121".</summary>
    internal static string Figures(string phase, MetricsSnapshot snapshot)
    {
        var text = new StringBuilder();
        text.Append(Invariant, $"{phase}-accuracy={snapshot.PooledAccuracy:0.000000} ");
        foreach (var task in snapshot.Tasks) text.Append(Invariant, $" {task.Name}={task.Accuracy:0.0000}");
        text.Append(Invariant, $"  loss={snapshot.Loss:0.0000}");
        return text.ToString();
    }
}

/// <summary>A confusion matrix as an aligned text table: rows = true label, columns = predicted.</summary>
internal static class ConfusionTable
{
    public static string Render(TaskDefinition task, long[][] counts)
    {
        int classes = counts.Length;
        string[] names = Enumerable.Range(0, classes).Select(task.ClassName).ToArray();
        int labelWidth = Math.Max(names.Max(n => n.Length), "true".Length);
        int cellWidth = Math.Max(names.Max(n => n.Length), counts.SelectMany(r => r).Max().ToString(CultureInfo.InvariantCulture).Length) + 1;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Label={task.Name}  (rows: true label, columns: predicted)\n");
        text.Append("true".PadRight(labelWidth)).Append(" |");
        foreach (var name in names) text.Append(name.PadLeft(cellWidth));
        text.Append('\n');
        text.Append(new string('-', labelWidth)).Append("-+").Append(new string('-', cellWidth * classes)).Append('\n');
        for (int r = 0; r < classes; r++)
        {
            text.Append(names[r].PadRight(labelWidth)).Append(" |");
            foreach (long count in counts[r]) text.Append(count.ToString(CultureInfo.InvariantCulture).PadLeft(cellWidth));
            text.Append('\n');
        }
        return text.ToString();
    }
}

using System.Globalization;
using System.Text;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Optimizers;
using DigitParity.Tasks;
using DigitParity.Training;

namespace DigitParity.Cli;

/// <summary>
/// Renders a training run like the original tutorial: speed lines every log interval, then per epoch the
/// training metric, the time cost, the validation metric and one confusion matrix per task. This is the piped
/// (plain text) rendering; a terminal gets <see cref="LiveTrainingReporter"/>.
/// </summary>
internal sealed class TrainingReporter(TextWriter output, IReadOnlyList<TaskDefinition> tasks) : ITrainingCallbacks
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

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
    }

    /// <summary>What a run is about to do: its data, the checkpoint it resumes, its network, optimizer and augmentation.</summary>
    internal static IEnumerable<string> Header(TrainingRun run)
    {
        var options = run.Options;
        var training = options.Training;
        var images = run.Train.Data;
        string source = options.DataDirectory ?? "the embedded MNIST";
        string sets = run.Test is { } test
            ? $"{run.Train.Count} training and {run.Validation.Count} validation images (held out of the training set), {test.Count} test images"
            : $"{run.Train.Count} training and {run.Validation.Count} test images (evaluated after every epoch)";
        yield return string.Create(Invariant, $"Data: {sets} of {images.Rows}x{images.Columns} from {source} ({run.LoadSeconds:0.00} s)");
        if (run.Resumed)
            yield return run.FirstEpoch > 1 ? $"Resuming {options.ResumeFrom} after epoch {run.FirstEpoch - 1}" : $"Starting from the weights of {options.ResumeFrom}";
        var config = run.Network.Config;
        yield return string.Create(Invariant,
            $"Model: {Describe(config)} -> heads {string.Join(", ", config.Tasks.Select(t => $"{t.Name} ({t.ClassCount})"))}; {run.Network.Parameters.Count:N0} parameters");
        string schedule = training.Schedule == LearningRateSchedule.Constant ? "" : $" ({training.Schedule.ToString().ToLowerInvariant()} schedule)";
        string rule = training.Optimizer == OptimizerKind.Sgd ? string.Create(Invariant, $"momentum {training.Momentum}") : "β1 0.9, β2 0.999";
        string average = (training.AverageDecay > 0 ? string.Create(Invariant, $", weight average (decay {training.AverageDecay})") : "")
            + (training.LabelSmoothing > 0 ? string.Create(Invariant, $", label smoothing {training.LabelSmoothing}") : "");
        yield return string.Create(Invariant,
            $"{training.Optimizer.ToString().ToUpperInvariant()}: lr {training.LearningRate}{schedule}, {rule}, weight decay {training.WeightDecay:0.#########}{average}, batch {training.BatchSize}, {training.Epochs} epochs, seed {training.Seed}, {training.Threads} threads");
        if (training.Augmentation is { } a)
            yield return string.Create(Invariant,
                $"Augmentation: shifts up to {a.Shift} px, rotations up to {a.Degrees}°, scaling up to {a.Scale:P0}{(a.Elastic > 0 ? $", elastic displacements up to {a.Elastic} px" : "")}");
    }

    /// <summary>"784 -> 128 -> 64", or the CNN's stages: "28x28 -> conv 5x5 1->32, pool 2 (12x12x32) -> ... -> flatten 1024 -> 128".</summary>
    internal static string Describe(ModelConfig config)
    {
        var stages = config.Stages();
        var parts = new List<string> { config.Convolutions.Count == 0 ? config.InputSize.ToString(Invariant) : $"{config.ImageSide}x{config.ImageSide}" };
        for (int l = 0; l < config.Convolutions.Count; l++)
            parts.Add($"conv {config.Kernel}x{config.Kernel} {stages[l].Channels}->{config.Convolutions[l]}, pool 2{(config.BatchNorm ? ", batch norm" : "")} ({stages[l + 1].Side}x{stages[l + 1].Side}x{config.Convolutions[l]})");
        if (config.Convolutions.Count > 0) parts.Add($"flatten {config.FeatureSize}");
        parts.AddRange(config.Hidden.Select(h => h.ToString(Invariant) + (config.Dropout > 0 ? string.Create(Invariant, $" (dropout {config.Dropout})") : "")));
        return string.Join(" -> ", parts);
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
        string[] names = Enumerable.Range(0, classes).Select(c => UserError.Printable(task.ClassName(c))).ToArray();
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

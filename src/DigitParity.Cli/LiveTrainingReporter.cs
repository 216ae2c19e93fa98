using System.Globalization;
using DigitParity.Metrics;
using DigitParity.Tasks;
using DigitParity.Training;
using Spectre.Console.Rendering;
using Spectre.Console;

namespace DigitParity.Cli;

/// <summary>
/// The terminal rendering of a training run: one live progress bar per epoch (samples/sec, running loss and per-task
/// accuracy, ETA), then per epoch a table of training and validation figures and the confusion matrices with the
/// diagonal highlighted. Piped output uses <see cref="TrainingReporter"/> instead.
/// </summary>
internal sealed class LiveTrainingReporter : ITrainingCallbacks
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private readonly IAnsiConsole _console;
    private readonly ProgressContext _progress;
    private readonly IReadOnlyList<TaskDefinition> _tasks;
    private readonly int _lastEpoch;
    private readonly FiguresColumn _figures;
    private ProgressTask? _bar;

    public LiveTrainingReporter(IAnsiConsole console, ProgressContext progress, FiguresColumn figures, IReadOnlyList<TaskDefinition> tasks,
        int firstEpoch, int lastEpoch)
    {
        _console = console;
        _progress = progress;
        _tasks = tasks;
        _lastEpoch = lastEpoch;
        _figures = figures;
        _bar = NewBar(firstEpoch);
    }

    /// <summary>The columns of the live display: epoch, bar, percentage, ETA, then the running figures (which may wrap).</summary>
    public static ProgressColumn[] Columns(FiguresColumn figures) =>
    [
        new TaskDescriptionColumn { Alignment = Justify.Left },
        new ProgressBarColumn { Width = 24 },
        new PercentageColumn(),
        new RemainingTimeColumn(),
        figures,
    ];

    /// <summary>Shows each bar's running figures (samples/sec, loss, per-task accuracy), set by the reporter.</summary>
    internal sealed class FiguresColumn : ProgressColumn
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> _text = new();

        public void Set(ProgressTask task, string text) => _text[task.Id] = text;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime)
            => new Markup(Markup.Escape(_text.GetValueOrDefault(task.Id, "")));
    }

    private ProgressTask NewBar(int epoch) => _progress.AddTask(Markup.Escape($"Epoch {epoch}"), maxValue: 1);

    public void OnProgress(BatchProgress progress)
    {
        _bar ??= NewBar(progress.Epoch);
        _bar.MaxValue = progress.BatchesPerEpoch;
        _bar.Value = progress.Batch;
        _figures.Set(_bar, Running(progress));
    }

    /// <summary>"312,000 samples/s  loss 0.1234  digit 96.12%  parity 98.00%".</summary>
    internal static string Running(BatchProgress progress)
    {
        var text = string.Create(Invariant, $"{progress.SamplesPerSecond,7:N0} samples/s  loss {progress.Running.Loss:0.0000}");
        foreach (var task in progress.Running.Tasks) text += string.Create(Invariant, $"  {task.Name} {100 * task.Accuracy:0.00}%");
        return text;
    }

    public void OnEpochCompleted(EpochResult result)
    {
        if (_bar is not null)
        {
            _bar.Value = _bar.MaxValue;
            _bar.StopTask();
        }
        _console.Write(EpochSummary(result, _tasks));
        _console.WriteLine();
        _bar = result.Epoch < _lastEpoch ? NewBar(result.Epoch + 1) : null;
    }

    /// <summary>The epoch's table (training and validation, per task and pooled) followed by the confusion matrices side by side.</summary>
    internal static IRenderable EpochSummary(EpochResult result, IReadOnlyList<TaskDefinition> tasks)
    {
        var table = new Table { Border = TableBorder.Rounded }
            .Title(string.Create(Invariant, $"[bold]Epoch {result.Epoch}[/]  {result.Seconds:0.000} s, {result.SamplesPerSecond:N0} samples/sec, lr {result.LearningRate:G4}"))
            .AddColumn("task")
            .AddColumn(new TableColumn("train acc").RightAligned())
            .AddColumn(new TableColumn("train loss").RightAligned())
            .AddColumn(new TableColumn("val acc").RightAligned())
            .AddColumn(new TableColumn("val loss").RightAligned());
        for (int t = 0; t < tasks.Count; t++)
        {
            var train = result.Train.Tasks[t];
            var validation = result.Validation.Tasks[t];
            table.AddRow(Markup.Escape(tasks[t].Name), Percent(train.Accuracy), Number(train.Loss), $"[bold]{Percent(validation.Accuracy)}[/]", Number(validation.Loss));
        }
        table.AddRow("[dim]pooled[/]", Percent(result.Train.PooledAccuracy), Number(result.Train.Loss), $"[bold]{Percent(result.Validation.PooledAccuracy)}[/]", Number(result.Validation.Loss));
        var matrices = tasks.Select((task, t) => (IRenderable)Confusion(task, result.Validation.Tasks[t].Confusion));
        return new Rows(table, new Columns(matrices) { Expand = false });
    }

    /// <summary>A confusion matrix (rows: true label, columns: predicted) with the diagonal in bold green and mistakes in red.</summary>
    internal static Table Confusion(TaskDefinition task, long[][] counts)
    {
        var table = new Table { Border = TableBorder.Simple }.Title($"[bold]{Markup.Escape(task.Name)}[/]: validation");
        table.AddColumn(new TableColumn("[dim]true \\ pred[/]"));
        for (int c = 0; c < counts.Length; c++) table.AddColumn(new TableColumn(Markup.Escape(task.ClassName(c))).RightAligned());
        for (int r = 0; r < counts.Length; r++)
        {
            var cells = new List<string> { Markup.Escape(task.ClassName(r)) };
            for (int c = 0; c < counts.Length; c++)
            {
                string count = counts[r][c].ToString(Invariant);
                cells.Add(r == c ? $"[bold green]{count}[/]" : counts[r][c] == 0 ? $"[dim]{count}[/]" : $"[red]{count}[/]");
            }
            table.AddRow(cells.ToArray());
        }
        return table;
    }

    private static string Percent(double value) => string.Create(Invariant, $"{100 * value:0.00}%");

    private static string Number(double value) => value.ToString("0.0000", Invariant);
}

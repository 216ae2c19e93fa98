using System.Globalization;
using DigitParity.Metrics;
using DigitParity.Tasks;
using DigitParity.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DigitParity.Cli;

/// <summary>
/// The terminal rendering of a training run: one status line per epoch, redrawn in place (epoch, bar, percentage, time
/// left, samples/sec, running loss and per-task accuracy), then per epoch a table of training and validation figures and
/// the confusion matrices with the diagonal highlighted. Piped output uses <see cref="TrainingReporter"/> instead.
/// </summary>
/// <remarks>
/// The status line is drawn here rather than by a Spectre live display: a live region redrawn from its own thread
/// overwrites the rows written above it without erasing them, which leaves fragments of the bars beside each table.
/// One line, never wider than the terminal, erased before each redraw and ended before anything else is written,
/// cannot.
/// </remarks>
internal sealed class LiveTrainingReporter : ITrainingCallbacks
{
    private const int BarWidth = 24;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private readonly IAnsiConsole _console;
    private readonly TextWriter _output;
    private readonly IReadOnlyList<TaskDefinition> _tasks;
    private readonly int _width;
    private readonly System.Diagnostics.Stopwatch _epochClock = System.Diagnostics.Stopwatch.StartNew();
    private BatchProgress? _last;
    private bool _lineOpen;

    /// <param name="console">Renders the epoch tables.</param>
    /// <param name="output">The terminal the console writes to, for the status line.</param>
    /// <param name="tasks">The heads, in order.</param>
    /// <param name="width">The terminal's width in columns: the status line is cut to one less.</param>
    public LiveTrainingReporter(IAnsiConsole console, TextWriter output, IReadOnlyList<TaskDefinition> tasks, int width)
    {
        _console = console;
        _output = output;
        _tasks = tasks;
        _width = Math.Max(width, 20);
    }

    public void OnProgress(BatchProgress progress)
    {
        _last = progress;
        double fraction = progress.BatchesPerEpoch == 0 ? 1 : (double)progress.Batch / progress.BatchesPerEpoch;
        double elapsed = _epochClock.Elapsed.TotalSeconds;
        var left = TimeSpan.FromSeconds(fraction > 0 ? Math.Round(elapsed / fraction * (1 - fraction)) : 0);
        Draw(StatusLine(progress.Epoch, fraction, left, Running(progress), _width), done: false);
    }

    /// <summary>"Epoch 2 ━━━━━━━━━━━━━━━━━━━━━━━━  42% 00:00:03  312,000 samples/s  loss …", at most width − 1 characters.</summary>
    internal static string StatusLine(int epoch, double fraction, TimeSpan left, string figures, int width)
    {
        int filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * BarWidth);
        string line = string.Create(Invariant, $"Epoch {epoch} {new string('━', filled)}{new string('─', BarWidth - filled)} {100 * fraction,3:0}% {left:hh\\:mm\\:ss}  {figures}");
        return line.Length < width ? line : line[..(width - 1)];
    }

    // Erases the line and draws it again; a finished epoch's line is ended, and stays above its table.
    private void Draw(string line, bool done)
    {
        _output.Write("\r\u001b[2K");
        _output.Write(line);
        if (done) _output.WriteLine();
        _output.Flush();
        _lineOpen = !done;
    }

    /// <summary>Ends a status line left open (the run stopped inside an epoch), so that what follows starts on its own line.</summary>
    public void Close()
    {
        if (_lineOpen) Draw(_last is { } last ? StatusLine(last.Epoch, (double)last.Batch / Math.Max(last.BatchesPerEpoch, 1), TimeSpan.Zero, Running(last), _width) : "", done: true);
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
        string figures = _last is { } last && last.Epoch == result.Epoch ? Running(last) : "";
        Draw(StatusLine(result.Epoch, 1, TimeSpan.Zero, figures, _width), done: true);
        _console.Write(EpochSummary(result, _tasks));
        _console.WriteLine();
        _epochClock.Restart();
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
        for (int c = 0; c < counts.Length; c++) table.AddColumn(new TableColumn(Markup.Escape(UserError.Printable(task.ClassName(c)))).RightAligned());
        for (int r = 0; r < counts.Length; r++)
        {
            var cells = new List<string> { Markup.Escape(UserError.Printable(task.ClassName(r))) };
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

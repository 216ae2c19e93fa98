using System.Text.RegularExpressions;
using DigitParity.Cli;
using DigitParity.Metrics;
using DigitParity.Tasks;
using DigitParity.Training;
using Spectre.Console.Testing;

namespace DigitParity.Tests;

/// <summary>Snapshots of the terminal rendering (Spectre.Console) of a training run.</summary>
public sealed class LiveReporterTests
{
    private static EpochResult Epoch()
    {
        var digit = new long[10][];
        for (int i = 0; i < 10; i++) { digit[i] = new long[10]; digit[i][i] = 95 + i; }
        digit[3][5] = 2;
        digit[9][4] = 7;
        var validation = new MetricsSnapshot(1054, 0.25, 0.985,
            [new TaskMetrics("digit", 0.2, 0.9915, digit), new TaskMetrics("parity", 0.05, 0.9786, [[480, 11], [12, 551]])]);
        var train = new MetricsSnapshot(60000, 0.4399, 0.93815, [new TaskMetrics("digit", 0.31, 0.9046, digit), new TaskMetrics("parity", 0.13, 0.9517, [[1, 0], [0, 1]])]);
        return new EpochResult(2, 0.2345, 255890.4, train, validation, 0.1f);
    }

    [Fact]
    public void EpochSummarySnapshot()
    {
        var console = new TestConsole().Width(110);
        console.Write(LiveTrainingReporter.EpochSummary(Epoch(), TaskDefinition.DigitAndParity));
        string rendered = string.Join('\n', console.Output.Replace("\r\n", "\n").Split('\n').Select(l => l.TrimEnd()));
        Assert.Equal("""
                 Epoch 2  0.235 s, 255,890 samples/sec, lr 0.1
            ╭────────┬───────────┬────────────┬─────────┬──────────╮
            │ task   │ train acc │ train loss │ val acc │ val loss │
            ├────────┼───────────┼────────────┼─────────┼──────────┤
            │ digit  │    90.46% │     0.3100 │  99.15% │   0.2000 │
            │ parity │    95.17% │     0.1300 │  97.86% │   0.0500 │
            │ pooled │    93.82% │     0.4399 │  98.50% │   0.2500 │
            ╰────────┴───────────┴────────────┴─────────┴──────────╯
                                      digit: validation                                 parity: validation

              true \ pred    0    1    2    3    4     5     6     7     8     9     true \ pred   even   odd
            ────────────────────────────────────────────────────────────────────── ────────────────────────────
              0             95    0    0    0    0     0     0     0     0     0     even           480    11
              1              0   96    0    0    0     0     0     0     0     0     odd             12   551
              2              0    0   97    0    0     0     0     0     0     0
              3              0    0    0   98    0     2     0     0     0     0
              4              0    0    0    0   99     0     0     0     0     0
              5              0    0    0    0    0   100     0     0     0     0
              6              0    0    0    0    0     0   101     0     0     0
              7              0    0    0    0    0     0     0   102     0     0
              8              0    0    0    0    0     0     0     0   103     0
              9              0    0    0    0    7     0     0     0     0   104


            """, rendered);
    }

    [Fact]
    public void TheDiagonalIsHighlightedAndMistakesAreRed()
    {
        var console = new TestConsole().Width(110).EmitAnsiSequences();
        console.Write(LiveTrainingReporter.Confusion(TaskDefinition.Parity, [[480, 11], [12, 551]]));
        string output = console.Output;
        const string BoldGreen = "\u001b[1;38;5;2m", Red = "\u001b[38;5;9m";
        Assert.Contains(BoldGreen + "480", output);
        Assert.Contains(BoldGreen + "551", output);
        Assert.Contains(Red + "11", output);
        Assert.Contains(Red + "12", output);
        Assert.DoesNotContain(BoldGreen + "11", output);
    }

    [Fact]
    public void RunningFiguresShowSpeedLossAndEveryTask()
    {
        var running = Epoch().Train;
        Assert.Equal("256,000 samples/s  loss 0.4399  digit 90.46%  parity 95.17%",
            LiveTrainingReporter.Running(new BatchProgress(1, 100, 600, 255999.7, running)));
    }

    [Fact]
    public void ATrainingRunOnATerminalShowsBarsAndTables()
    {
        string data = TestData.WriteMnistSubset(1000, 200, gzip: false);
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--data", data, "--epochs", "2", "--log-interval", "2"], output, new StringWriter(), interactive: true));
        string plain = Regex.Replace(output.ToString(), "\u001b\\[[0-9;?]*[A-Za-z]", "");
        Assert.Matches(@"Epoch 1 ━+ 100%", plain);
        Assert.Matches(@"Epoch 2 ━+ 100%", plain);
        Assert.Contains("samples/s  loss", plain);
        Assert.Contains("Epoch 2  ", plain);
        Assert.Contains("│ pooled │", plain);
        Assert.Contains("parity: validation", plain);
        Assert.DoesNotContain("Speed:", plain); // the piped lines are for pipes only
    }

    [Fact]
    public void TheStatusLineFillsItsBarAndNeverReachesTheTerminalsLastColumn()
    {
        string figures = "312,000 samples/s  loss 0.1234  digit 96.12%  parity 98.00%";
        Assert.Equal("Epoch 3 " + new string('━', 12) + new string('─', 12) + "  50% 00:01:05  " + figures,
            LiveTrainingReporter.StatusLine(3, 0.5, TimeSpan.FromSeconds(65), figures, 200));
        foreach (int width in new[] { 20, 40, 80, 100 })
            Assert.Equal(width - 1, LiveTrainingReporter.StatusLine(12, 1, TimeSpan.Zero, figures, width).Length);
    }
}

using System.Diagnostics;
using System.Text.RegularExpressions;

namespace DigitParity.Tests;

/// <summary>
/// <c>train</c> in a real terminal emulator (Debian's tmux, 140 × 45): the screen it leaves must hold every epoch's
/// status line once and its table whole, with nothing of the redrawn status line beside the rows written after it. A
/// virtual console cannot see this: only a terminal applies the cursor moves and erasures the way a user sees them.
/// </summary>
public sealed class TerminalTests
{
    private const string Tmux = "/usr/bin/tmux";

    [Fact]
    public void TrainInATerminalLeavesEachTableIntactAndNoStrayProgressText()
    {
        Assert.True(File.Exists(Tmux), $"{Tmux} is missing: install it with 'apt-get install tmux' (./test.sh does)");
        string data = TestData.WriteMnistSubset(3000, 500, gzip: false);
        string cli = Path.Combine(AppContext.BaseDirectory, "DigitParity.Cli.dll");
        string done = Path.Combine(data, "done");
        string socket = $"digitparity-test-{Environment.ProcessId}";
        // The command runs in the terminal, then marks that it ended; the pane stays open for the capture.
        string command = $"dotnet '{cli}' train --data '{data}' --epochs 3 --log-interval 3; echo $? > '{done}'; sleep 600";
        try
        {
            Run("-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "140", "-y", "45", command);
            var clock = Stopwatch.StartNew();
            while (!File.Exists(done) && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(200);
            Assert.True(File.Exists(done), "train did not finish in the terminal within 2 minutes");
            Thread.Sleep(300); // let tmux draw the last output
            Assert.Equal("0", File.ReadAllText(done).Trim());
            string screen = Run("-L", socket, "capture-pane", "-p", "-J", "-S", "-", "-E", "-");
            string[] lines = screen.Split('\n').Select(l => l.TrimEnd()).ToArray();

            for (int epoch = 1; epoch <= 3; epoch++)
            {
                Assert.Single(lines, l => Regex.IsMatch(l, $@"^Epoch {epoch} ━+ 100% 00:00:00 +[\d,]+ samples/s  loss \d\.\d{{4}}  digit \d+\.\d\d%  parity \d+\.\d\d%$"));
                // The table's centred title: its indent depends on the length of the figures in it.
                Assert.Single(lines, l => Regex.IsMatch(l, $@"^ +Epoch {epoch}  \d+\.\d{{3}} s, [\d,]+ samples/sec"));
            }
            // Every row of every table ends where the table does: nothing written after it on its line.
            var tableRows = lines.Where(l => l.Length > 0 && "╭│├╰".Contains(l[0])).ToArray();
            Assert.Equal(3 * 7, tableRows.Length); // per epoch: top, header, rule, digit, parity, pooled, bottom
            foreach (string row in tableRows)
                Assert.Matches(@"^[╭│├╰].*[╮│┤╯]$", row);
            foreach (string row in tableRows)
                Assert.Equal(tableRows[0].Length, row.Length);
            // The running figures appear on the status lines alone.
            Assert.Equal(3, lines.Count(l => l.Contains("samples/s  loss", StringComparison.Ordinal)));
            Assert.DoesNotContain(lines, l => l.Contains("samples/s  loss", StringComparison.Ordinal) && !l.StartsWith("Epoch ", StringComparison.Ordinal));
        }
        finally
        {
            try { Run("-L", socket, "kill-server"); } catch (InvalidOperationException) { } // already gone
        }
    }

    private static string Run(params string[] arguments)
    {
        var start = new ProcessStartInfo(Tmux) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["TERM"] = "xterm-256color";
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"tmux {string.Join(' ', arguments)}: {error}");
        return output;
    }
}

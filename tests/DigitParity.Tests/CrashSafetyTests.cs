using System.Diagnostics;
using System.Globalization;
using DigitParity.Checkpoints;

namespace DigitParity.Tests;

/// <summary>
/// SIGKILL a real <c>train --checkpoint-dir</c> process at random moments: the newest checkpoint must always load and
/// <c>--resume</c> from it must complete. 20 kills by default; set DIGITPARITY_KILLS for a longer run (100 documented).
/// </summary>
public sealed class CrashSafetyTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "DigitParity.Cli.dll");

    private static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Cli);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        return process;
    }

    [Fact]
    public void KilledAtRandomMomentsTheNewestCheckpointLoadsAndResumes()
    {
        int kills = int.TryParse(Environment.GetEnvironmentVariable("DIGITPARITY_KILLS"), out int k) ? k : 20;
        string data = TestData.WriteMnistSubset(3000, 300, gzip: false);
        var random = new Random(20261129);
        int withCheckpoint = 0, midWrite = 0;
        for (int i = 0; i < kills; i++)
        {
            string dir = Directory.CreateTempSubdirectory("digitparity-kill-").FullName;
            // ~25 ms per epoch: a checkpoint is being written a good share of the time.
            using var training = Start("train", "--data", data, "--epochs", "200", "--checkpoint-dir", dir, "--threads", "1", "--log-interval", "1000");
            // Kill at a random moment after the first checkpoint, so every kill tests one (and many land mid-write).
            var clock = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(dir, "last.safetensors")) && !training.HasExited && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(5);
            Thread.Sleep(random.Next(0, 400));
            training.Kill();
            training.WaitForExit();
            if (Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories).Length > 0 || Directory.GetFiles(dir, ".*").Length > 0) midWrite++;

            string last = Path.Combine(dir, "last.safetensors");
            Assert.True(File.Exists(last), $"kill {i}: no checkpoint after {clock.Elapsed.TotalSeconds:0.0} s");
            withCheckpoint++;
            var loaded = Checkpoint.Load(last);
            int epoch = int.Parse(loaded.Metadata["epoch"], CultureInfo.InvariantCulture);
            string best = Path.Combine(dir, "best.safetensors");
            Assert.True(File.Exists(best), $"kill {i}: last.safetensors without best.safetensors");
            Checkpoint.Load(best);

            using var resumed = Start("train", "--data", data, "--epochs", (epoch + 1).ToString(CultureInfo.InvariantCulture), "--resume", last,
                "--checkpoint-dir", dir, "--threads", "1", "--log-interval", "1000");
            Assert.True(resumed.WaitForExit(60_000), $"kill {i}: the resumed run did not finish");
            Assert.Equal(0, resumed.ExitCode);
            Assert.Equal((epoch + 1).ToString(CultureInfo.InvariantCulture), Checkpoint.Load(last).Metadata["epoch"]);
            Assert.Empty(Directory.GetFiles(dir, "*.tmp")); // the resumed run removed what the killed one left
            Directory.Delete(dir, recursive: true);
        }
        Console.WriteLine($"{kills} kills, {withCheckpoint} resumed; {midWrite} interrupted a write (left its temporary file)");
    }
}

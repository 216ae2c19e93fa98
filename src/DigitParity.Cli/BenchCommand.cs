using System.CommandLine;
using System.Globalization;
using DigitParity.IO;
using DigitParity.Data;
using DigitParity.Performance;

namespace DigitParity.Cli;

/// <summary><c>digitparity bench</c>: the machine's FMA peak and how close kernels and training get to it.</summary>
internal static class BenchCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file", HelpName = "FILE" };
        var data = new Option<string?>("--data") { Description = "Directory with the four MNIST IDX files [default: the embedded MNIST]", HelpName = "DIR" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs per training configuration (the first is not counted)", DefaultValueFactory = _ => 4 };
        epochs.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 2) result.AddError($"--epochs must be at least 2 (got {result.GetValueOrDefault<int>()})");
        });
        var command = new Command("bench", "Measure FMA peak, kernel GFLOP/s, training and evaluation throughput, allocations and memory")
        {
            json, data, epochs,
        };
        command.SetAction(parse =>
        {
            string? jsonPath = parse.GetValue(json);
            if (jsonPath is not null) OutputPaths.CheckWritable(jsonPath, "the benchmark JSON");
            var splits = MnistFiles.Load(parse.GetValue(data) ?? MnistFiles.EmbeddedDirectory);
            var report = Bench.Run(splits, new BenchOptions { Epochs = parse.GetValue(epochs) }, new SynchronousProgress(error));
            output.Write(Render(report));
            if (jsonPath is not null)
            {
                report.WriteJson(jsonPath);
                output.WriteLine($"Figures written to {jsonPath}");
            }
            return 0;
        });
        return command;
    }

    internal static string Render(BenchReport report)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new System.Text.StringBuilder();
        text.Append(c, $"Machine: {report.Cores} logical cores ({report.Processor})\n");
        text.Append(c, $"FMA peak: {report.PeakGflopsOneThread:0.0} GFLOP/s on one thread, {report.PeakGflopsAllThreads:0.0} GFLOP/s on all {report.Cores}\n");
        text.Append(c, $"Training FLOPs per sample: {report.FlopsPerTrainingSample:N0}\n\n");
        text.Append("Kernels (one thread, dense)        batch      M      N      K   GFLOP/s  of peak\n");
        foreach (var k in report.Kernels)
            text.Append(c, $"  {k.Name,-32} {k.Batch,5} {k.M,6} {k.N,6} {k.K,6} {k.Gflops,9:0.0} {k.FractionOfPeak,7:P0}\n");
        text.Append("\nTraining (median of epochs after the first)\n");
        text.Append("  batch  threads   samples/sec   GFLOP/s  of peak\n");
        foreach (var t in report.Training)
            text.Append(c, $"  {t.Batch,5} {t.Threads,8} {t.SamplesPerSecond,13:N0} {t.Gflops,9:0.0} {t.FractionOfPeak,7:P0}\n");
        text.Append(c, $"\nEvaluation: {report.EvaluationSamplesPerSecond:N0} samples/sec\n");
        text.Append(c, $"Allocated per training step: {report.BytesAllocatedPerStep:0} bytes\n");
        text.Append(c, $"Peak working set: {report.PeakWorkingSetBytes / (1024.0 * 1024.0):0.0} MiB\n");
        if (report.Prediction.Count > 0)
        {
            text.Append("\nPrediction (into spans, median of 5)\n");
            text.Append("  model          batch  threads    images/sec   µs/image  bytes/batch\n");
            foreach (var p in report.Prediction)
                text.Append(c, $"  {p.Model,-13} {p.Batch,6} {p.Threads,8} {p.ImagesPerSecond,13:N0} {p.MicrosecondsPerImage,10:0.0} {p.BytesAllocatedPerBatch,12:0}\n");
        }
        return text.ToString();
    }

    /// <summary>Reports progress on the calling thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress(TextWriter error) : IProgress<string>
    {
        public void Report(string value) => error.WriteLine($"bench: {value}...");
    }
}

using System.CommandLine;
using DigitParity.IO;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Reporting;

namespace DigitParity.Cli;

/// <summary><c>digitparity report</c>: the training report of a saved model, on the test set of a dataset.</summary>
internal static class ReportCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = CommandOptions.ModelOption("report on");
        var config = CommandOptions.ConfigOption();
        var data = CommandOptions.TestDataOption();
        var outDir = new Option<string>("--out") { Description = "Directory to write metrics.csv, metrics.json, the PNG plots and report.html into", HelpName = "DIR", Required = true };
        var threads = CommandOptions.ThreadsOption();
        var command = new Command("report", "Write a report (learning curves, confusion heatmaps, consistency, worst mistakes, report.html) for a saved model")
        {
            model, config, data, outDir, threads,
        };
        command.SetAction(parse =>
        {
            string path = CommandOptions.ModelPath(parse, model, error), directory = parse.GetValue(outDir)!;
            OutputPaths.CheckDirectory(directory, "the report");
            var loaded = CommandOptions.Load(parse, config, path);
            var network = loaded.Network;
            var epochs = loaded.Metadata.TryGetValue("metrics", out string? json) ? MetricsJson.Read(json, path) : [];
            var test = CommandOptions.TestSet(parse.GetValue(data), network, path);
            var content = TrainingReport.Collect(path, network, epochs, new LabeledDataset(test, network.Tasks), parse.GetValue(threads));
            TrainingReport.Write(directory, content);
            output.WriteLine($"Report written to {Path.Combine(directory, "report.html")} ({content.Epochs.Count} epochs, {test.Count} test images)");
            return 0;
        });
        return command;
    }
}

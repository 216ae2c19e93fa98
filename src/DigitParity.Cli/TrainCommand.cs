using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Cli;

/// <summary><c>digitparity train</c>: the tutorial's run, with its settings as defaults.</summary>
internal static class TrainCommand
{
    public static Command Create(TextWriter output, TextWriter error, bool interactive)
    {
        var defaults = new TrainingOptions();
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training set", DefaultValueFactory = _ => defaults.Epochs };
        var batchSize = new Option<int>("--batch-size") { Description = "Samples per SGD step", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<float>("--lr") { Description = "Learning rate", DefaultValueFactory = _ => defaults.LearningRate };
        var momentum = new Option<float>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => defaults.Momentum };
        var weightDecay = new Option<float>("--weight-decay") { Description = "L2 weight decay (weights, not biases)", DefaultValueFactory = _ => defaults.WeightDecay };
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialization and shuffling", DefaultValueFactory = _ => defaults.Seed };
        var data = new Option<string?>("--data")
        {
            Description = "Directory with the four MNIST IDX files, raw or .gz [default: the embedded MNIST]",
            HelpName = "DIR",
        };
        var threads = new Option<int>("--threads") { Description = "Worker threads", DefaultValueFactory = _ => defaults.Threads };
        var logInterval = new Option<int>("--log-interval") { Description = "Batches between speed lines", DefaultValueFactory = _ => defaults.LogInterval };
        var metrics = new Option<string?>("--metrics") { Description = "Write per-epoch metrics as JSON to this file", HelpName = "FILE" };

        AtLeast(epochs, 1);
        AtLeast(batchSize, 1);
        AtLeast(threads, 1);
        AtLeast(logInterval, 1);
        Require(lr, v => float.IsFinite(v) && v > 0, "a positive number");
        Require(momentum, v => float.IsFinite(v) && v >= 0 && v < 1, "a number in [0, 1)");
        Require(weightDecay, v => float.IsFinite(v) && v >= 0, "zero or a positive number");

        var command = new Command("train", "Train the multi-task digit & parity network (defaults: the MXNet tutorial's settings)")
        {
            epochs, batchSize, lr, momentum, weightDecay, seed, data, threads, logInterval, metrics,
        };
        command.SetAction(parse =>
        {
            var options = new TrainingOptions
            {
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batchSize),
                LearningRate = parse.GetValue(lr),
                Momentum = parse.GetValue(momentum),
                WeightDecay = parse.GetValue(weightDecay),
                Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads),
                LogInterval = parse.GetValue(logInterval),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                error.WriteLine($"digitparity: error: {e.Message} (see 'digitparity train --help')");
                return 2;
            }
            return Run(options, parse.GetValue(data), parse.GetValue(metrics), output, interactive);
        });
        return command;
    }

    private static void AtLeast(Option<int> option, int minimum) => Require(option, v => v >= minimum, $"at least {minimum}");

    private static void Require<T>(Option<T> option, Func<T, bool> valid, string expected)
        => option.Validators.Add(result =>
        {
            T value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                return; // not a T at all: the parser reports that itself
            }
            if (!valid(value)) result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be {expected} (got {value})"));
        });

    private static int Run(TrainingOptions options, string? dataDirectory, string? metricsPath, TextWriter output, bool interactive)
    {
        if (metricsPath is not null) Paths.CheckWritable(metricsPath, "the metrics file");
        var clock = Stopwatch.StartNew();
        string directory = dataDirectory ?? MnistFiles.EmbeddedDirectory;
        var splits = MnistFiles.Load(directory);
        var config = ModelConfig.Tutorial with { InputSize = splits.Train.FeatureCount };
        var train = new LabeledDataset(splits.Train, config.Tasks);
        var validation = new LabeledDataset(splits.Validation, config.Tasks);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Data: {train.Count} training and {validation.Count} validation images of {splits.Train.Rows}x{splits.Train.Columns} from {(dataDirectory is null ? "the embedded MNIST" : directory)} ({clock.Elapsed.TotalSeconds:0.00} s)"));

        var network = new MultiTaskNetwork(config);
        network.Initialize(options.Seed);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Model: {config.InputSize} -> {string.Join(" -> ", config.Hidden)} -> heads {string.Join(", ", config.Tasks.Select(t => $"{t.Name} ({t.ClassCount})"))}; {network.Parameters.Count:N0} parameters"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SGD: lr {options.LearningRate}, momentum {options.Momentum}, weight decay {options.WeightDecay:0.#########}, batch {options.BatchSize}, {options.Epochs} epochs, seed {options.Seed}, {options.Threads} threads"));

        var reporter = new TrainingReporter(output, interactive, config.Tasks, epochs => { if (metricsPath is not null) MetricsJson.Write(metricsPath, epochs); });
        using var trainer = new Trainer(network, options);
        trainer.Fit(train, validation, reporter);
        if (metricsPath is not null) output.WriteLine($"Metrics written to {metricsPath}");
        return 0;
    }
}

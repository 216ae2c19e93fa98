using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Training;
using Spectre.Console;

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
        var ema = new Option<float>("--ema")
        {
            Description = "Evaluate and save an exponential moving average of the weights, with this decay per step (e.g. 0.999; 0: off)",
            DefaultValueFactory = _ => defaults.AverageDecay,
            HelpName = "DECAY",
        };
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialization and shuffling", DefaultValueFactory = _ => defaults.Seed };
        var data = new Option<string?>("--data")
        {
            Description = "Directory with the four MNIST IDX files, raw or .gz [default: the embedded MNIST]",
            HelpName = "DIR",
        };
        var threads = new Option<int>("--threads") { Description = "Worker threads", DefaultValueFactory = _ => defaults.Threads };
        var logInterval = new Option<int>("--log-interval") { Description = "Batches between speed lines", DefaultValueFactory = _ => defaults.LogInterval };
        var metrics = new Option<string?>("--metrics") { Description = "Write per-epoch metrics as JSON to this file", HelpName = "FILE" };
        var save = new Option<string?>("--save") { Description = "Write the final model to this safetensors file", HelpName = "PATH" };
        var task = new Option<string[]>("--task")
        {
            Description = $"A head besides digit (repeatable): {string.Join(", ", TaskDefinition.BuiltIn.Skip(1).Select(t => t.Name))} [default: parity]",
            HelpName = "NAME",
            AllowMultipleArgumentsPerToken = false,
        };
        task.Validators.Add(result =>
        {
            foreach (string name in result.GetValueOrDefault<string[]>() ?? [])
                if (TaskDefinition.Find(name) is null || name == TaskDefinition.Digit.Name)
                    result.AddError($"--task {name} is not a task; expected one of {string.Join(", ", TaskDefinition.BuiltIn.Skip(1).Select(t => t.Name))}");
        });
        var taskWeight = new Option<string[]>("--task-weight")
        {
            Description = "Loss weight of a head, NAME=W (repeatable) [default: 1 for every head]",
            HelpName = "NAME=W",
        };
        taskWeight.Validators.Add(result =>
        {
            foreach (string item in result.GetValueOrDefault<string[]>() ?? [])
                if (ParseWeight(item) is null)
                    result.AddError($"--task-weight {item} is not NAME=W with W a number at least 0");
        });
        var schedule = new Option<LearningRateSchedule>("--schedule")
        {
            Description = "Learning-rate schedule: constant, step (÷10 after each third), cosine, onecycle",
            DefaultValueFactory = _ => LearningRateSchedule.Constant,
        };
        var patience = new Option<int>("--patience") { Description = "Stop after this many epochs without better validation accuracy (0: never)", DefaultValueFactory = _ => 0 };
        patience.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0) result.AddError($"--patience must be at least 0 (got {result.GetValueOrDefault<int>()})");
        });
        var classes = new Option<string?>("--classes")
        {
            Description = "For another IDX dataset: a file with one class name per line; the first head is then 'class' with these names",
            HelpName = "FILE",
        };
        var optimizer = new Option<OptimizerKind>("--optimizer")
        {
            Description = "sgd (the tutorial's, with --momentum), adam or adamw (use a smaller --lr, e.g. 0.001)",
            DefaultValueFactory = _ => OptimizerKind.Sgd,
        };
        var valSplit = new Option<double>("--val-split")
        {
            Description = "Hold out this fraction of the training set for validation; the test set is then used once, at the end",
            DefaultValueFactory = _ => 0,
            HelpName = "FRACTION",
        };
        valSplit.Validators.Add(result =>
        {
            double v = result.GetValueOrDefault<double>();
            if (!(v >= 0 && v < 1)) result.AddError(string.Create(CultureInfo.InvariantCulture, $"--val-split must be in [0, 1) (got {v})"));
        });
        var resume = new Option<string?>("--resume")
        {
            Description = "Continue the run saved in this checkpoint, up to --epochs in all (same seed and threads give the same bits)",
            HelpName = "PATH",
        };
        var model = new Option<ModelKind>("--model")
        {
            Description = "mlp: the tutorial's 784-128-64 network; cnn: conv 1→32 5×5, pool, conv 32→64 5×5, pool, fc 1024→128",
            DefaultValueFactory = _ => ModelKind.Mlp,
        };
        var hidden = new Option<string?>("--hidden")
        {
            Description = "Widths of the fully connected trunk, comma-separated [default: 128,64 for mlp, 128 for cnn]",
            HelpName = "W,W,...",
        };
        var conv = new Option<string?>("--conv")
        {
            Description = "Output channels of the convolution stages, comma-separated (cnn) [default: 32,64]",
            HelpName = "C,C,...",
        };
        hidden.Validators.Add(result => CheckSizes(result, "--hidden", 1 << 16));
        conv.Validators.Add(result => CheckSizes(result, "--conv", 4096));
        var dropout = new Option<float?>("--dropout")
        {
            Description = "Dropout rate on the fully connected trunk in training [default: 0 for mlp, 0.25 for cnn]",
            HelpName = "RATE",
        };
        dropout.Validators.Add(result =>
        {
            float? v = result.GetValueOrDefault<float?>();
            if (v is { } rate && !(rate >= 0 && rate < 1)) result.AddError(string.Create(CultureInfo.InvariantCulture, $"--dropout must be in [0, 1) (got {rate})"));
        });
        var augment = new Option<bool>("--augment")
        {
            Description = "Distort every training image at random each epoch (seeded): shifts of up to 2 px, rotations of up to 10°, scaling by up to 10 %",
        };
        var elastic = new Option<float>("--elastic")
        {
            Description = "With --augment, also an elastic distortion: smooth random displacements of up to this many pixels (e.g. 1.5; 0: none)",
            DefaultValueFactory = _ => 0f,
            HelpName = "PX",
        };
        var report = new Option<string?>("--report")
        {
            Description = "After training write a report here: metrics.csv, metrics.json, PNG plots and a self-contained report.html",
            HelpName = "DIR",
        };
        var checkpointDir = new Option<string?>("--checkpoint-dir")
        {
            Description = "After every epoch write last.safetensors, and best.safetensors when validation accuracy improves, here",
            HelpName = "DIR",
        };

        AtLeast(epochs, 1);
        AtLeast(batchSize, 1);
        AtLeast(threads, 1);
        AtLeast(logInterval, 1);
        Require(lr, v => float.IsFinite(v) && v > 0, "a positive number");
        Require(momentum, v => float.IsFinite(v) && v >= 0 && v < 1, "a number in [0, 1)");
        Require(weightDecay, v => float.IsFinite(v) && v >= 0, "zero or a positive number");
        Require(ema, v => v >= 0 && v < 1, "a number in [0, 1)");
        Require(elastic, v => v >= 0 && v <= 8, "a number of pixels in [0, 8]");

        var command = new Command("train", "Train the multi-task digit & parity network (defaults: the MXNet tutorial's settings)")
        {
            model, hidden, conv, dropout, augment, elastic, epochs, batchSize, lr, momentum, weightDecay, seed, data, threads, logInterval, metrics, save, report, checkpointDir, resume, task, taskWeight, valSplit, schedule, patience, optimizer, ema, classes,
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
                Schedule = parse.GetValue(schedule),
                Optimizer = parse.GetValue(optimizer),
                Patience = parse.GetValue(patience),
                Augmentation = parse.GetValue(augment) ? Augmentation.Default with { Elastic = parse.GetValue(elastic) } : null,
                AverageDecay = parse.GetValue(ema),
            };
            if (parse.GetValue(elastic) > 0 && !parse.GetValue(augment))
            {
                error.WriteLine("digitparity: error: --elastic needs --augment (see 'digitparity train --help')");
                return 2;
            }
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                error.WriteLine($"digitparity: error: {e.Message} (see 'digitparity train --help')");
                return 2;
            }
            var outputs = new TrainOutputs(parse.GetValue(metrics), parse.GetValue(save), parse.GetValue(checkpointDir), parse.GetValue(resume), parse.GetValue(valSplit), parse.GetValue(report));
            string[] extra = parse.GetValue(task) ?? [];
            var classHead = parse.GetValue(classes) is { } classFile ? TaskDefinition.Classes(ReadClassNames(classFile)) : TaskDefinition.Digit;
            IReadOnlyList<TaskDefinition> tasks = extra.Length == 0
                ? [classHead, TaskDefinition.Parity]
                : [classHead, .. extra.Distinct().Select(name => TaskDefinition.Find(name)!)];
            var weights = (parse.GetValue(taskWeight) ?? []).Select(item => ParseWeight(item)!.Value).ToList();
            foreach (var (name, _) in weights)
            {
                // A resumed run has the checkpoint's heads; Run checks the weights against those.
                if (outputs.Resume is null && !tasks.Any(t => t.Name == name))
                {
                    error.WriteLine($"digitparity: error: --task-weight {name}: no such head; the heads are {string.Join(", ", tasks.Select(t => t.Name))} (see 'digitparity train --help')");
                    return 2;
                }
            }
            var shape = parse.GetValue(model) == ModelKind.Cnn ? ModelConfig.Cnn : ModelConfig.Tutorial;
            if (parse.GetValue(hidden) is { } widths) shape = shape with { Hidden = Sizes(widths) };
            if (parse.GetValue(dropout) is { } rate) shape = shape with { Dropout = rate };
            if (parse.GetValue(conv) is { } channels)
            {
                if (parse.GetValue(model) != ModelKind.Cnn)
                {
                    error.WriteLine("digitparity: error: --conv needs --model cnn (see 'digitparity train --help')");
                    return 2;
                }
                shape = shape with { Convolutions = Sizes(channels) };
            }
            return Run(options, shape, tasks, weights, parse.GetValue(data), outputs, output, interactive);
        });
        return command;
    }

    private static int[] Sizes(string text) => text.Split(',', StringSplitOptions.TrimEntries).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    private static void CheckSizes(System.CommandLine.Parsing.OptionResult result, string name, int max)
    {
        string? text = result.GetValueOrDefault<string?>();
        if (text is null) return;
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries))
            if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < 1 || v > max)
            {
                result.AddError($"{name} {text} is not a comma-separated list of sizes in 1-{max}");
                return;
            }
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

    /// <summary>Files a training run writes besides its console output.</summary>
    private sealed record TrainOutputs(string? Metrics, string? Model, string? CheckpointDirectory, string? Resume, double ValSplit = 0, string? Report = null);

    // One class name per non-empty line; a problem is one line naming the file.
    private static string[] ReadClassNames(string path)
    {
        const long MaxBytes = 16 << 20;
        string[] names;
        try
        {
            long length = new FileInfo(path).Length;
            if (length > MaxBytes) throw new InvalidDataException($"{path}: {length} bytes, expected a class list of at most {MaxBytes} bytes");
            names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InvalidDataException($"{path}: file not found, expected one class name per line");
        }
        if (names.Length < 2 || names.Length > 100_000)
            throw new InvalidDataException($"{path}: {names.Length} class names, expected 2-100000, one per line");
        if (names.Distinct().Count() != names.Length)
            throw new InvalidDataException($"{path}: a class name appears twice, expected distinct names");
        return names;
    }

    private static (string Name, float Weight)? ParseWeight(string item)
    {
        int at = item.IndexOf('=');
        if (at <= 0 || !float.TryParse(item[(at + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out float weight)
            || !float.IsFinite(weight) || weight < 0) return null;
        return (item[..at], weight);
    }

    private static int Run(TrainingOptions options, ModelConfig shape, IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<(string Name, float Weight)> weights,
        string? dataDirectory, TrainOutputs outputs, TextWriter output, bool interactive)
    {
        if (outputs.Metrics is not null) Paths.CheckWritable(outputs.Metrics, "the metrics file");
        if (outputs.Model is not null) Paths.CheckWritable(outputs.Model, "the model");
        if (outputs.CheckpointDirectory is not null)
        {
            Directory.CreateDirectory(outputs.CheckpointDirectory);
            // Leftovers of a run killed mid-write; the checkpoints themselves are always whole.
            foreach (string name in new[] { "last.safetensors", "best.safetensors" }) IO.AtomicFile.RemoveStale(Path.Combine(outputs.CheckpointDirectory, name));
        }
        if (outputs.Report is not null) Paths.CheckDirectory(outputs.Report, "the report");
        var resumed = outputs.Resume is null ? null : Checkpoint.Load(outputs.Resume);
        int firstEpoch = 1;
        if (resumed is not null)
        {
            if (!int.TryParse(resumed.Metadata.GetValueOrDefault("epoch"), NumberStyles.None, CultureInfo.InvariantCulture, out int done))
                throw new InvalidDataException($"{outputs.Resume}: no epoch in the metadata, expected a checkpoint written by train");
            firstEpoch = done + 1;
            if (firstEpoch > options.Epochs)
            {
                output.WriteLine($"{outputs.Resume} is at epoch {firstEpoch - 1}: nothing left to train for --epochs {options.Epochs}");
                return 0;
            }
        }
        var clock = Stopwatch.StartNew();
        string directory = dataDirectory ?? MnistFiles.EmbeddedDirectory;
        var splits = MnistFiles.Load(directory, (resumed?.Network.Tasks ?? tasks)[0].ClassCount);
        var config = resumed?.Network.Config ?? shape with { InputSize = splits.Train.FeatureCount, Tasks = tasks };
        if (config.Problem() is { } problem)
            throw new InvalidDataException($"{directory}: images of {splits.Train.Rows}x{splits.Train.Columns} do not fit the model: {problem}");
        if (config.InputSize != splits.Train.FeatureCount)
            throw new InvalidDataException($"{directory}: images of {splits.Train.FeatureCount} pixels, expected {config.InputSize} as {outputs.Resume} was trained on");
        // With --val-split, model selection sees only a held-out part of the training set; the test set is used once.
        var (trainSet, validationSet) = outputs.ValSplit > 0 ? splits.Train.Split(outputs.ValSplit, options.Seed) : (splits.Train, splits.Validation);
        var train = new LabeledDataset(trainSet, config.Tasks);
        var validation = new LabeledDataset(validationSet, config.Tasks);
        var test = outputs.ValSplit > 0 ? new LabeledDataset(splits.Validation, config.Tasks) : null;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Data: {train.Count} training and {validation.Count} validation images{(test is null ? "" : $" (held out of the training set), {test.Count} test images")} of {splits.Train.Rows}x{splits.Train.Columns} from {(dataDirectory is null ? "the embedded MNIST" : directory)} ({clock.Elapsed.TotalSeconds:0.00} s)"));

        var network = resumed?.Network ?? new MultiTaskNetwork(config);
        if (resumed is null) network.Initialize(options.Seed);
        else output.WriteLine($"Resuming {outputs.Resume} after epoch {firstEpoch - 1}");
        foreach (var (name, weight) in weights)
        {
            if (!network.Tasks.Any(t => t.Name == name))
                throw new InvalidDataException($"{outputs.Resume}: no head {name} to weight; its heads are {string.Join(", ", network.Tasks.Select(t => t.Name))}");
            network.SetTaskWeight(name, weight);
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Model: {Describe(config)} -> heads {string.Join(", ", config.Tasks.Select(t => $"{t.Name} ({t.ClassCount})"))}; {network.Parameters.Count:N0} parameters"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{options.Optimizer.ToString().ToUpperInvariant()}: lr {options.LearningRate}{(options.Schedule == LearningRateSchedule.Constant ? "" : $" ({options.Schedule.ToString().ToLowerInvariant()} schedule)")}, {(options.Optimizer == OptimizerKind.Sgd ? $"momentum {options.Momentum}" : "β1 0.9, β2 0.999")}, weight decay {options.WeightDecay:0.#########}{(options.AverageDecay > 0 ? $", weight average (decay {options.AverageDecay})" : "")}, batch {options.BatchSize}, {options.Epochs} epochs, seed {options.Seed}, {options.Threads} threads"));

        if (options.Augmentation is { } augmentation)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Augmentation: shifts up to {augmentation.Shift} px, rotations up to {augmentation.Degrees}°, scaling up to {augmentation.Scale:P0}{(augmentation.Elastic > 0 ? $", elastic displacements up to {augmentation.Elastic} px" : "")}"));
        using var trainer = new Trainer(network, options);
        if (resumed is not null) trainer.RestoreOptimizer(resumed);
        double best = double.NegativeInfinity;
        // A resumed run keeps the best model so far unless it beats it.
        if (resumed is not null && outputs.CheckpointDirectory is not null && File.Exists(Path.Combine(outputs.CheckpointDirectory, "best.safetensors")))
            best = BestSoFar(Path.Combine(outputs.CheckpointDirectory, "best.safetensors"));
        void EpochDone(IReadOnlyList<EpochResult> epochs)
        {
            if (outputs.Metrics is not null) MetricsJson.Write(outputs.Metrics, epochs);
            if (outputs.CheckpointDirectory is null) return;
            var last = epochs[^1];
            var metadata = Metadata(options, epochs);
            // best before last: a kill between the two writes never leaves a last.safetensors without a best.safetensors.
            if (last.Validation.PooledAccuracy > best)
            {
                best = last.Validation.PooledAccuracy;
                Checkpoint.Save(Path.Combine(outputs.CheckpointDirectory, "best.safetensors"), network, metadata, trainer.Optimizer);
            }
            Checkpoint.Save(Path.Combine(outputs.CheckpointDirectory, "last.safetensors"), network, metadata, trainer.Optimizer);
        }
        IReadOnlyList<EpochResult> run;
        if (interactive)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(output),
                Ansi = AnsiSupport.Yes,
                Interactive = InteractionSupport.Yes,
            });
            var figures = new LiveTrainingReporter.FiguresColumn();
            run = console.Progress().AutoClear(false).HideCompleted(false).Columns(LiveTrainingReporter.Columns(figures))
                .Start(progress => trainer.Fit(train, validation,
                    new LiveTrainingReporter(console, progress, figures, config.Tasks, firstEpoch, options.Epochs, EpochDone), firstEpoch: firstEpoch));
        }
        else
        {
            run = trainer.Fit(train, validation, new TrainingReporter(output, config.Tasks, EpochDone), firstEpoch: firstEpoch);
        }
        if (test is not null)
        {
            var testFigures = trainer.Evaluate(test);
            output.WriteLine($"Final {TrainingReporter.Figures("Test", testFigures)}");
            if (outputs.Metrics is not null) MetricsJson.Write(outputs.Metrics, run, testFigures);
        }
        if (outputs.Metrics is not null) output.WriteLine($"Metrics written to {outputs.Metrics}");
        if (outputs.CheckpointDirectory is not null) output.WriteLine($"Checkpoints written to {outputs.CheckpointDirectory} (last.safetensors, best.safetensors)");
        if (outputs.Model is not null)
        {
            Checkpoint.Save(outputs.Model, network, Metadata(options, run), trainer.Optimizer);
            output.WriteLine($"Model written to {outputs.Model}");
        }
        if (outputs.Report is not null)
        {
            var content = Reporting.TrainingReport.Collect(outputs.Model ?? "training run", network, run, validation, options.Threads);
            Reporting.TrainingReport.Write(outputs.Report, content);
            output.WriteLine($"Report written to {Path.Combine(outputs.Report, "report.html")}");
        }
        return 0;
    }

    internal static string Describe(ModelConfig config)
    {
        var stages = config.Stages();
        var parts = new List<string> { config.Convolutions.Count == 0 ? config.InputSize.ToString(CultureInfo.InvariantCulture) : $"{config.ImageSide}x{config.ImageSide}" };
        for (int l = 0; l < config.Convolutions.Count; l++)
            parts.Add($"conv {config.Kernel}x{config.Kernel} {stages[l].Channels}->{config.Convolutions[l]}, pool 2 ({stages[l + 1].Side}x{stages[l + 1].Side}x{config.Convolutions[l]})");
        if (config.Convolutions.Count > 0) parts.Add($"flatten {config.FeatureSize}");
        parts.AddRange(config.Hidden.Select(h => h.ToString(CultureInfo.InvariantCulture) + (config.Dropout > 0 ? string.Create(CultureInfo.InvariantCulture, $" (dropout {config.Dropout})") : "")));
        return string.Join(" -> ", parts);
    }

    private static double BestSoFar(string path)
    {
        var metadata = Checkpoint.Load(path).Metadata;
        return double.TryParse(metadata.GetValueOrDefault("validation_pooled_accuracy"), NumberStyles.Float, CultureInfo.InvariantCulture, out double accuracy)
            ? accuracy
            : double.NegativeInfinity;
    }

    private static Dictionary<string, string> Metadata(TrainingOptions options, IReadOnlyList<EpochResult> epochs)
    {
        var epoch = epochs[^1];
        using var metrics = new MemoryStream();
        MetricsJson.Write(metrics, epochs);
        return new()
        {
            ["epoch"] = epoch.Epoch.ToString(CultureInfo.InvariantCulture),
            ["seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["validation_pooled_accuracy"] = epoch.Validation.PooledAccuracy.ToString("R", CultureInfo.InvariantCulture),
            ["validation_accuracy"] = string.Join(",", epoch.Validation.Tasks.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name}={t.Accuracy:R}"))),
            ["metrics"] = System.Text.Encoding.UTF8.GetString(metrics.ToArray()),
        };
    }
}

/// <summary>The network families of <c>--model</c>.</summary>
internal enum ModelKind
{
    /// <summary>The tutorial's MLP.</summary>
    Mlp,

    /// <summary>The convolutional network.</summary>
    Cnn,
}

using System.CommandLine;
using DigitParity.Data;
using DigitParity.Model;
using DigitParity.Optimizers;
using DigitParity.Tasks;
using DigitParity.Training;
using Spectre.Console;
using static DigitParity.Cli.OptionRules;

namespace DigitParity.Cli;

/// <summary><c>digitparity train</c>: maps the options to a <see cref="TrainingRun"/> and renders its progress.</summary>
internal static class TrainCommand
{
    private static readonly string DerivedTasks = string.Join(", ", TaskDefinition.BuiltIn.Skip(1).Select(t => t.Name));

    public static Command Create(TextWriter output, TextWriter error, bool interactive)
    {
        var d = new TrainingOptions();
        var model = new Option<ModelKind>("--model") { Description = "mlp: the tutorial's 784-128-64 network; cnn: conv 1→32 5×5, pool, conv 32→64 5×5, pool, fc 1024→128", DefaultValueFactory = _ => ModelKind.Mlp };
        var hidden = new Option<string?>("--hidden") { Description = "Widths of the fully connected trunk, comma-separated [default: 128,64 for mlp, 128 for cnn]", HelpName = "W,W,..." };
        var conv = new Option<string?>("--conv") { Description = "Output channels of the convolution stages, comma-separated (cnn) [default: 32,64]", HelpName = "C,C,..." };
        var dropout = new Option<float?>("--dropout") { Description = "Dropout rate on the fully connected trunk in training [default: 0 for mlp, 0.25 for cnn]", HelpName = "RATE" };
        var batchNorm = new Option<bool>("--batch-norm") { Description = "Batch-normalize every convolution stage's pooled output (cnn): by the batch in training, by running statistics after" };
        var augment = new Option<bool>("--augment") { Description = "Distort every training image at random each epoch (seeded): shifts of up to 2 px, rotations of up to 10°, scaling by up to 10 %" };
        var elastic = new Option<float>("--elastic") { Description = "With --augment, also an elastic distortion: smooth random displacements of up to this many pixels (e.g. 1.5; 0: none)", DefaultValueFactory = _ => 0f, HelpName = "PX" };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training set", DefaultValueFactory = _ => d.Epochs };
        var batchSize = new Option<int>("--batch-size") { Description = "Samples per SGD step", DefaultValueFactory = _ => d.BatchSize };
        var lr = new Option<float>("--lr") { Description = "Learning rate", DefaultValueFactory = _ => d.LearningRate };
        var momentum = new Option<float>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => d.Momentum };
        var weightDecay = new Option<float>("--weight-decay") { Description = "L2 weight decay (weights, not biases)", DefaultValueFactory = _ => d.WeightDecay };
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialization and shuffling", DefaultValueFactory = _ => d.Seed };
        var data = new Option<string?>("--data") { Description = "Directory with the four MNIST IDX files, raw or .gz [default: the embedded MNIST]", HelpName = "DIR" };
        var threads = new Option<int>("--threads") { Description = "Worker threads", DefaultValueFactory = _ => d.Threads };
        var logInterval = new Option<int>("--log-interval") { Description = "Batches between speed lines", DefaultValueFactory = _ => d.LogInterval };
        var metrics = new Option<string?>("--metrics") { Description = "Write per-epoch metrics as JSON to this file", HelpName = "FILE" };
        var save = new Option<string?>("--save") { Description = "Write the final model to this safetensors file", HelpName = "PATH" };
        var report = new Option<string?>("--report") { Description = "After training write a report here: metrics.csv, metrics.json, PNG plots and a self-contained report.html", HelpName = "DIR" };
        var checkpointDir = new Option<string?>("--checkpoint-dir") { Description = "After every epoch write last.safetensors, and best.safetensors when validation accuracy improves, here", HelpName = "DIR" };
        var config = CommandOptions.ConfigOption();
        var resume = new Option<string?>("--resume") { Description = "Continue the run saved in this checkpoint, up to --epochs in all (same seed and threads give the same bits)", HelpName = "PATH" };
        var task = new Option<string[]>("--task") { Description = $"A head besides digit (repeatable): {DerivedTasks} [default: parity]", HelpName = "NAME", AllowMultipleArgumentsPerToken = false };
        var taskWeight = new Option<string[]>("--task-weight") { Description = "Loss weight of a head, NAME=W (repeatable) [default: 1 for every head]", HelpName = "NAME=W" };
        var valSplit = new Option<double>("--val-split") { Description = "Hold out this fraction of the training set for validation; the test set is then used once, at the end", DefaultValueFactory = _ => 0, HelpName = "FRACTION" };
        var schedule = new Option<LearningRateSchedule>("--schedule") { Description = "Learning-rate schedule: constant, step (÷10 after each third), cosine, onecycle", DefaultValueFactory = _ => LearningRateSchedule.Constant };
        var patience = new Option<int>("--patience") { Description = "Stop after this many epochs without better validation accuracy (0: never)", DefaultValueFactory = _ => 0 };
        var optimizer = new Option<OptimizerKind>("--optimizer") { Description = "sgd (the tutorial's, with --momentum), adam or adamw (use a smaller --lr, e.g. 0.001)", DefaultValueFactory = _ => OptimizerKind.Sgd };
        var ema = new Option<float>("--ema") { Description = "Evaluate and save an exponential moving average of the weights, with this decay per step (e.g. 0.999; 0: off)", DefaultValueFactory = _ => d.AverageDecay, HelpName = "DECAY" };
        var smoothing = new Option<float>("--label-smoothing") { Description = "Train each head towards 1 - EPS on the true class and EPS / K on each of its K classes (0: plain cross-entropy)", DefaultValueFactory = _ => d.LabelSmoothing, HelpName = "EPS" };
        var preset = new Option<string?>("--preset")
        {
            Description = "Start from a recipe; options given explicitly override it: " + string.Join("; ", TrainingPreset.All.Select(p => $"{p.Name}: {p.Summary}")),
            HelpName = string.Join("|", TrainingPreset.All.Select(p => p.Name)),
        };
        var classes = new Option<string?>("--classes") { Description = "For another IDX dataset: a file with one class name per line; the first head is then 'class' with these names", HelpName = "FILE" };

        preset.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } name && TrainingPreset.Find(name) is null)
                result.AddError($"--preset {name} is not a preset; expected one of {string.Join(", ", TrainingPreset.All.Select(p => p.Name))}");
        });
        task.Validators.Add(result =>
        {
            foreach (string name in result.GetValueOrDefault<string[]>() ?? [])
                if (TaskDefinition.Find(name) is null || name == TaskDefinition.Digit.Name)
                    result.AddError($"--task {name} is not a task; expected one of {DerivedTasks}");
        });
        taskWeight.Validators.Add(result =>
        {
            foreach (string item in result.GetValueOrDefault<string[]>() ?? [])
                if (ParseWeight(item) is null) result.AddError($"--task-weight {item} is not NAME=W with W a number at least 0");
        });
        Sizes(hidden, 1 << 16);
        Sizes(conv, 4096);
        foreach (var option in new[] { epochs, batchSize, threads, logInterval }) AtLeast(option, 1);
        AtLeast(patience, 0);
        Require(lr, v => float.IsFinite(v) && v > 0, "a positive number");
        Require(momentum, v => float.IsFinite(v) && v >= 0 && v < 1, "a number in [0, 1)");
        Require(weightDecay, v => float.IsFinite(v) && v >= 0, "zero or a positive number");
        Require(ema, v => v >= 0 && v < 1, "a number in [0, 1)");
        Require(smoothing, v => v >= 0 && v < 1, "a number in [0, 1)");
        Require(elastic, v => v >= 0 && v <= 8, "a number of pixels in [0, 8]");
        Require(dropout, v => v is not { } rate || rate >= 0 && rate < 1, "in [0, 1)");
        Require(valSplit, v => v >= 0 && v < 1, "in [0, 1)");

        var command = new Command("train", "Train the multi-task digit & parity network (defaults: the MXNet tutorial's settings)")
        {
            preset, model, hidden, conv, dropout, batchNorm, augment, elastic, epochs, batchSize, lr, momentum, weightDecay, seed, data, threads, logInterval, metrics, save, report, checkpointDir, resume, config, task, taskWeight, valSplit, schedule, patience, optimizer, ema, smoothing, classes,
        };
        command.SetAction(parse =>
        {
            // The preset's value of every setting not given on the command line.
            var recipe = TrainingPreset.Find(parse.GetValue(preset) ?? TrainingPreset.Tutorial.Name)!;
            bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
            T Pick<T>(Option<T> option, T fromPreset) => Given(option) ? parse.GetValue(option)! : fromPreset;
            var r = recipe.Training;
            var kind = Pick(model, recipe.Model.Convolutions.Count > 0 ? ModelKind.Cnn : ModelKind.Mlp);
            bool augmented = Given(augment) ? parse.GetValue(augment) : r.Augmentation is not null;
            string? problem = parse.GetValue(elastic) > 0 && !augmented ? "--elastic needs --augment"
                : parse.GetValue(config) is not null && parse.GetValue(resume) is null ? "--config needs --resume (a plain PyTorch state_dict to continue)"
                : parse.GetValue(conv) is not null && kind != ModelKind.Cnn ? "--conv needs --model cnn"
                : parse.GetValue(batchNorm) && kind != ModelKind.Cnn ? "--batch-norm needs --model cnn"
                : null;
            var training = new TrainingOptions
            {
                Epochs = Pick(epochs, r.Epochs), BatchSize = Pick(batchSize, r.BatchSize), LearningRate = Pick(lr, r.LearningRate),
                Momentum = Pick(momentum, r.Momentum), WeightDecay = Pick(weightDecay, r.WeightDecay), Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads), LogInterval = parse.GetValue(logInterval), Schedule = Pick(schedule, r.Schedule),
                Optimizer = Pick(optimizer, r.Optimizer), Patience = Pick(patience, r.Patience), AverageDecay = Pick(ema, r.AverageDecay),
                LabelSmoothing = Pick(smoothing, r.LabelSmoothing),
                Augmentation = augmented ? (r.Augmentation ?? Augmentation.Default) with { Elastic = Pick(elastic, r.Augmentation?.Elastic ?? 0) } : null,
            };
            var classHead = parse.GetValue(classes) is { } classFile ? TaskDefinition.Classes(ClassList.Read(classFile)) : TaskDefinition.Digit;
            string[] extra = parse.GetValue(task) ?? [];
            IReadOnlyList<TaskDefinition> tasks = extra.Length == 0 ? [classHead, TaskDefinition.Parity] : [classHead, .. extra.Distinct().Select(name => TaskDefinition.Find(name)!)];
            // The preset's network, unless --model names another.
            var network = Given(model) && kind != (recipe.Model.Convolutions.Count > 0 ? ModelKind.Cnn : ModelKind.Mlp)
                ? kind == ModelKind.Cnn ? ModelConfig.Cnn : ModelConfig.Tutorial
                : recipe.Model;
            var shape = network with { Tasks = tasks };
            if (parse.GetValue(hidden) is { } widths) shape = shape with { Hidden = ParseSizes(widths) };
            if (parse.GetValue(dropout) is { } rate) shape = shape with { Dropout = rate };
            if (parse.GetValue(conv) is { } channels) shape = shape with { Convolutions = ParseSizes(channels) };
            if (Given(batchNorm)) shape = shape with { BatchNorm = parse.GetValue(batchNorm) };
            var weights = new Dictionary<string, float>();
            foreach (var (name, weight) in (parse.GetValue(taskWeight) ?? []).Select(item => ParseWeight(item)!.Value))
            {
                // A resumed run has the checkpoint's heads; the run checks the weights against those.
                if (parse.GetValue(resume) is null && !tasks.Any(t => t.Name == name))
                    problem ??= $"--task-weight {name}: no such head; the heads are {string.Join(", ", tasks.Select(t => t.Name))}";
                weights[name] = weight;
            }
            if (problem is not null)
            {
                error.WriteLine($"digitparity: error: {problem} (see 'digitparity train --help')");
                return 2;
            }
            var options = new TrainingRunOptions
            {
                Training = training, Model = shape, TaskWeights = weights, DataDirectory = parse.GetValue(data),
                ValidationSplit = parse.GetValue(valSplit), ResumeFrom = parse.GetValue(resume), ResumeConfig = CommandOptions.ConfigText(parse.GetValue(config)), CheckpointDirectory = parse.GetValue(checkpointDir),
                MetricsFile = parse.GetValue(metrics), ModelFile = parse.GetValue(save), ReportDirectory = parse.GetValue(report),
                Command = "digitparity " + string.Join(' ', parse.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value)),
            };
            return Run(options, output, error, interactive);
        });
        return command;
    }

    private static int Run(TrainingRunOptions options, TextWriter output, TextWriter error, bool interactive)
    {
        TrainingRun prepared;
        try
        {
            prepared = TrainingRun.Prepare(options);
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"digitparity: error: {UserError.Printable(UserError.Describe(e)!)} (see 'digitparity train --help')");
            return 2;
        }
        using var run = prepared;
        if (run.Finished)
        {
            output.WriteLine($"{options.ResumeFrom} is at epoch {run.FirstEpoch - 1}: nothing left to train for --epochs {options.Training.Epochs}");
            return 0;
        }
        foreach (string line in TrainingReporter.Header(run)) output.WriteLine(line);
        var tasks = run.Network.Tasks;
        TrainingRunResult result;
        if (interactive)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.Yes, Interactive = InteractionSupport.Yes });
            var live = new LiveTrainingReporter(console, output, tasks, console.Profile.Width);
            try
            {
                result = run.Run(live);
            }
            finally
            {
                live.Close();
            }
        }
        else
        {
            result = run.Run(new TrainingReporter(output, tasks));
        }
        if (result.Network.Temperatures.Any(t => t != 1))
            output.WriteLine("Calibrated on the held-out images: temperature " + string.Join(", ",
                tasks.Select((task, t) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{UserError.Printable(task.Name)} {result.Network.Temperatures[t]:0.000}")))
                + (result.Network.RejectionThreshold is { } threshold
                    ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"; not a digit below an energy score of {threshold:0.000}") : ""));
        if (result.Test is { } test) output.WriteLine($"Final {TrainingReporter.Figures("Test", test)}");
        foreach (var file in result.Files)
        {
            output.WriteLine(file.Kind switch
            {
                WrittenFileKind.Metrics => $"Metrics written to {file.Path}",
                WrittenFileKind.Checkpoints => $"Checkpoints written to {file.Path} ({TrainingRun.LastCheckpoint}, {TrainingRun.BestCheckpoint})",
                WrittenFileKind.Model => $"Model written to {file.Path}",
                _ => $"Report written to {Path.Combine(file.Path, "report.html")}",
            });
        }
        return 0;
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

using System.CommandLine;
using System.Globalization;
using System.Text;
using DigitParity.IO;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Tasks;
using DigitParity.Inference;

namespace DigitParity.Cli;

/// <summary><c>digitparity evaluate</c>: a saved model's figures on the test set.</summary>
internal static class EvaluateCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = CommandOptions.ModelOption("evaluate");
        var config = CommandOptions.ConfigOption();
        var data = CommandOptions.TestDataOption();
        var threads = CommandOptions.ThreadsOption();
        var json = new Option<string?>("--json") { Description = "Also write every figure as JSON to this file", HelpName = "FILE" };
        var ood = new Option<bool>("--ood") { Description = "Also measure how well each rejection score tells the test images from generated non-digits (noise, strokes, blank, letters, shuffled pixels): AUROC" };
        var beyond = new Option<bool>("--beyond-mnist") { Description = "Also score the model on digits that are not from MNIST: typed in 13 DejaVu fonts, and drawn as pen strokes by a program; with and without rejection" };
        var ensemble = new Option<string[]>("--ensemble")
        {
            Description = "Also score an ensemble: this model with every model given here (repeatable), voting by the mean of their tempered probabilities",
            HelpName = "PATH",
            AllowMultipleArgumentsPerToken = false,
        };
        var tta = new Option<bool>("--tta")
        {
            Description = "Also score test-time augmentation: each image and its four 1-pixel shifts vote by the mean of their tempered probabilities",
        };
        var command = new Command("evaluate", "Accuracy, confusion matrices, per-class precision/recall/F1 and head consistency of a saved model")
        {
            model, config, data, threads, json, ood, beyond, ensemble, tta,
        };
        command.SetAction(parse =>
        {
            string path = CommandOptions.ModelPath(parse, model, error);
            string? jsonPath = parse.GetValue(json);
            if (jsonPath is not null) OutputPaths.CheckWritable(jsonPath, "the evaluation JSON");
            var loaded = CommandOptions.Load(parse, config, path);
            var network = loaded.Network;
            if (parse.GetValue(beyond))
            {
                Predictor.RequireDigitImages(network, path, "to score digit images");
                if (network.Tasks[0].Name != TaskDefinition.Digit.Name)
                    throw new InvalidDataException($"{path}: its first head is '{UserError.Printable(network.Tasks[0].Name)}', expected 'digit' to score digits beyond MNIST");
            }
            var test = CommandOptions.TestSet(parse.GetValue(data), network, path);
            var labeled = new LabeledDataset(test, network.Tasks);
            var consistency = new HeadConsistency(network.Tasks);
            var calibration = new Calibration(network.Tasks, network.Config.HeadWidth);
            using var evaluator = new Evaluator(network, parse.GetValue(threads));
            var snapshot = evaluator.Evaluate(labeled, consistency, calibration);
            var figures = consistency.Compute();
            var calibrated = calibration.Compute(network.Temperatures);
            var raw = network.Temperatures.Any(t => t != 1) ? calibration.Compute(network.Tasks.Select(_ => 1.0).ToArray()) : null;
            output.Write(Render(path, loaded.Metadata.GetValueOrDefault("epoch"), network.Tasks, snapshot, figures));
            output.Write(RenderCalibration(calibrated, raw));
            var joint = network.Tasks.Count > 1 ? JointDecision.Measure(network.Tasks, calibration, network.Temperatures) : [];
            output.Write(RenderJoint(network.Tasks, joint));
            if (network.RejectionThreshold is { } threshold)
            {
                double rejected = calibration.Energies(network.Temperatures[0]).Count(e => e < threshold) / (double)labeled.Count;
                output.Write(string.Create(CultureInfo.InvariantCulture,
                    $"\nNot a digit below an energy score of {threshold:0.000} (kept {MultiTaskNetwork.KeptShare:P0} of the held-out images): {rejected:P2} of the test digits rejected\n"));
            }
            if (parse.GetValue(ensemble) is { Length: > 0 } others)
            {
                var members = new List<(string Path, Calibration Logits, IReadOnlyList<double> Temperatures)> { (path, calibration, network.Temperatures) };
                foreach (string other in others)
                {
                    var member = Checkpoint.Load(other).Network;
                    if (!member.Tasks.Select(t => (t.Name, t.ClassCount)).SequenceEqual(network.Tasks.Select(t => (t.Name, t.ClassCount))) || member.Config.InputSize != network.Config.InputSize)
                        throw new InvalidDataException($"{other}: heads {Heads(member)} on {member.Config.InputSize} inputs, expected {Heads(network)} on {network.Config.InputSize} inputs as {path}");
                    var logits = new Calibration(member.Tasks, member.Config.HeadWidth);
                    using var memberEvaluator = new Evaluator(member, parse.GetValue(threads));
                    memberEvaluator.Evaluate(new LabeledDataset(test, member.Tasks), calibration: logits);
                    members.Add((other, logits, member.Temperatures));
                }
                output.Write(RenderVote($"Ensemble of {members.Count} models", "ensemble", network.Tasks, members));
            }
            if (parse.GetValue(tta))
            {
                var views = new List<(string Name, Calibration Logits, IReadOnlyList<double> Temperatures)> { ("as given", calibration, network.Temperatures) };
                foreach (var (dx, dy, name) in TestTimeShifts)
                {
                    var logits = new Calibration(network.Tasks, network.Config.HeadWidth);
                    evaluator.Evaluate(new LabeledDataset(test.Shifted(dx, dy), network.Tasks), calibration: logits);
                    views.Add((name, logits, network.Temperatures));
                }
                output.Write(RenderVote($"Test-time augmentation, {views.Count} views of each image", "augmented", network.Tasks, views));
            }
            if (parse.GetValue(ood)) output.Write(RenderOutOfDistribution(network, test));
            if (parse.GetValue(beyond)) output.Write(RenderBeyondMnist(network));
            if (jsonPath is not null)
            {
                EvaluationJson.Write(jsonPath, path, snapshot, network.Tasks, figures, calibrated, raw, joint);
                output.WriteLine($"Figures written to {jsonPath}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Each head's calibration at its temperature and, for a calibrated model, at temperature 1 (<paramref name="raw"/>).
    /// </summary>
    internal static string RenderCalibration(IReadOnlyList<CalibrationFigures> calibrated, IReadOnlyList<CalibrationFigures>? raw)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(c, $"\nCalibration ({Calibration.Bins} bins){(raw is null ? " (not calibrated: every temperature is 1)" : "")}\n");
        text.Append(c, $"  {"head",-8} {"T",6} {"ECE",8} {"MCE",8} {"NLL",8} {"Brier",8}\n");
        void Row(string head, CalibrationFigures f) =>
            text.Append(c, $"  {head,-8} {f.Temperature,6:0.000} {f.ExpectedError,8:P2} {f.MaximumError,8:P2} {f.NegativeLogLikelihood,8:0.0000} {f.Brier,8:0.0000}\n");
        for (int t = 0; t < calibrated.Count; t++)
        {
            Row(UserError.Printable(calibrated[t].Task), calibrated[t]);
            if (raw is not null) Row("  at T=1", raw[t]);
        }
        return text.ToString();
    }

    /// <summary>Images per generated set of <c>--ood</c>.</summary>
    internal const int OutOfDistributionCount = 1000;

    /// <summary>The AUROC of every rejection score on every generated set, against the test images.</summary>
    internal static string RenderOutOfDistribution(MultiTaskNetwork network, Dataset test)
    {
        int width = network.Config.HeadWidth;
        var offsets = network.Tasks.Select((_, t) => network.TaskOffset(t)).ToArray();
        using var predictor = new Predictor(network);
        double[][] Scores(IReadOnlyList<byte[]> images) => Rejection.Compute(network.Tasks, offsets, width, predictor.Logits(images), network.Temperatures);
        var inside = Scores(Enumerable.Range(0, test.Count).Select(i => test.Image(i).ToArray()).ToArray());
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(c, $"\nNot a digit: AUROC of each score, the test images against {OutOfDistributionCount} generated images per set (seed 1)\n");
        text.Append(c, $"  {"set",-9}").AppendJoin("", Rejection.Scores.Select(score => string.Create(c, $" {score,8}")));
        text.Append(network.RejectionThreshold is null ? "\n" : "  rejected\n");
        int energy = Rejection.Scores.ToList().IndexOf("energy");
        foreach (string set in OutOfDistribution.Sets)
        {
            var outside = Scores(OutOfDistribution.Generate(set, OutOfDistributionCount, 1, test));
            text.Append(c, $"  {set,-9}").AppendJoin("", Rejection.Scores.Select((_, k) => string.Create(c, $" {Rejection.Auroc(inside[k], outside[k]),8:0.0000}")));
            if (network.RejectionThreshold is { } threshold) text.Append(c, $"  {outside[energy].Count(e => e < threshold) / (double)outside[energy].Length,8:P1}");
            text.Append('\n');
        }
        return text.ToString();
    }

    /// <summary>Every head's accuracy on each set of <see cref="BeyondMnist"/>, over all its images and over those not rejected.</summary>
    internal static string RenderBeyondMnist(MultiTaskNetwork network)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        bool rejects = network.RejectionThreshold is not null;
        text.Append(c, $"\nBeyond MNIST: digits typed in {BeyondMnist.FontFiles.Count} DejaVu fonts, and drawn as pen strokes by a program (seed 1)\n");
        text.Append(c, $"  {"set",-6} {"images",6}").AppendJoin("", network.Tasks.Select(t => string.Create(c, $" {UserError.Printable(t.Name),9}")));
        if (rejects) text.Append(c, $" {"rejected",9}").AppendJoin("", network.Tasks.Select(t => string.Create(c, $" {UserError.Printable(t.Name) + " kept",12}")));
        text.Append('\n');
        using var predictor = new Predictor(network);
        foreach (string set in BeyondMnist.Sets)
        {
            var figures = Generalization.Measure(predictor, network.Tasks, BeyondMnist.Generate(set).Images);
            text.Append(c, $"  {set,-6} {figures.Images,6}").AppendJoin("", figures.Heads.Select(h => string.Create(c, $" {h.Accuracy,9:P2}")));
            if (rejects) text.Append(c, $" {figures.Rejected,9:P1}").AppendJoin("", figures.Heads.Select(h => string.Create(c, $" {h.KeptAccuracy,12:P2}")));
            text.Append('\n');
        }
        if (!rejects) text.Append("  (the model has no \"not a digit\" threshold: train with --val-split to give it one)\n");
        return text.ToString();
    }

    // "digit (10), parity (2)": a model's heads, for an error naming a mismatch.
    private static string Heads(MultiTaskNetwork network) => string.Join(", ", network.Tasks.Select(t => $"{UserError.Printable(t.Name)} ({t.ClassCount})"));

    // The views of --tta besides the image as given: (right, down, name).
    private static readonly (int Dx, int Dy, string Name)[] TestTimeShifts =
        [(1, 0, "1 px right"), (-1, 0, "1 px left"), (0, 1, "1 px down"), (0, -1, "1 px up")];

    /// <summary>
    /// Each voter's accuracy per head (a model of an ensemble, a view of test-time augmentation), then the vote's: the
    /// argmax of the voters' mean tempered probabilities, and (with more than one head) the joint decision over those
    /// means.
    /// </summary>
    internal static string RenderVote(string title, string vote, IReadOnlyList<TaskDefinition> tasks,
        IReadOnlyList<(string Name, Calibration Logits, IReadOnlyList<double> Temperatures)> members)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        var names = members.Select(m => UserError.Printable(m.Name)).ToList();
        int width = Math.Max(names.Max(n => n.Length), $"{vote}, joint decision".Length);
        text.Append(c, $"\n{title}, voting by the mean of their tempered probabilities\n");
        text.Append(c, $"  {"".PadRight(width)}").AppendJoin("", tasks.Select(t => string.Create(c, $" {UserError.Printable(t.Name),9}"))).Append('\n');
        void Row(string name, IEnumerable<double> accuracies) =>
            text.Append(c, $"  {name.PadRight(width)}").AppendJoin("", accuracies.Select(a => string.Create(c, $" {a,9:P2}"))).Append('\n');
        for (int m = 0; m < members.Count; m++)
            Row(names[m], JointDecision.Measure(tasks, members[m].Logits, members[m].Temperatures).Select(f => f.HeadAccuracy));
        var votes = JointDecision.Measure(tasks, members.Select(m => (m.Logits, m.Temperatures)).ToList());
        Row(vote, votes.Select(f => f.HeadAccuracy));
        if (tasks.Count > 1) Row($"{vote}, joint decision", votes.Select(f => f.JointAccuracy));
        return text.ToString();
    }

    /// <summary>Every head's accuracy alone and under the joint decision, and the contradictions it resolves.</summary>
    internal static string RenderJoint(IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<JointFigures> joint)
    {
        if (joint.Count == 0) return "";
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(c, $"\nJoint decision (the {UserError.Printable(tasks[0].Name)} maximising the product of every head's probability)\n");
        text.Append(c, $"  {"head",-8} {"alone",9} {"joint",9}\n");
        foreach (var f in joint) text.Append(c, $"  {UserError.Printable(f.Task),-8} {f.HeadAccuracy,9:P2} {f.JointAccuracy,9:P2}\n");
        foreach (var f in joint.Skip(1))
            text.Append(c, $"  {UserError.Printable(f.Task)} contradicts {UserError.Printable(tasks[0].Name)} on {f.Contradictions} images; the joint answer is right on {f.ResolvedCorrectly} of them\n");
        return text.ToString();
    }

    internal static string Render(string model, string? epoch, IReadOnlyList<TaskDefinition> tasks, MetricsSnapshot snapshot, IReadOnlyList<ConsistencyFigures> consistency)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(c, $"Model: {model}{(epoch is null ? "" : $" (epoch {epoch})")}\n");
        text.Append(c, $"Test samples: {snapshot.Samples}   loss {snapshot.Loss:0.0000}   pooled accuracy {snapshot.PooledAccuracy:0.000000}\n");
        foreach (var task in snapshot.Tasks) text.Append(c, $"  {UserError.Printable(task.Name),-8} accuracy {task.Accuracy:0.0000}   loss {task.Loss:0.0000}\n");
        for (int t = 0; t < tasks.Count; t++)
        {
            text.Append('\n').Append(ConfusionTable.Render(tasks[t], snapshot.Tasks[t].Confusion));
            text.Append(c, $"\n{"class",-8} {"precision",9} {"recall",9} {"F1",9} {"support",8}\n");
            foreach (var figure in ClassFigures.From(tasks[t], snapshot.Tasks[t].Confusion))
                text.Append(c, $"{figure.Name,-8} {figure.Precision,9:0.0000} {figure.Recall,9:0.0000} {figure.F1,9:0.0000} {figure.Support,8}\n");
        }
        foreach (var figure in consistency)
        {
            string head = tasks[0].Name;
            text.Append(c, $"\nConsistency of {figure.Task} with the {head} head: the heads agree on {figure.Agreement:P2} of samples\n");
            text.Append(c, $"  where they agree:    {head} accuracy {figure.ClassAccuracyWhenAgree:P2}, {figure.Task} accuracy {figure.TaskAccuracyWhenAgree:P2}\n");
            text.Append(c, $"  where they disagree: {head} accuracy {figure.ClassAccuracyWhenDisagree:P2}, {figure.Task} accuracy {figure.TaskAccuracyWhenDisagree:P2}\n");
        }
        return text.ToString();
    }
}

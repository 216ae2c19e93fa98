using System.CommandLine;
using System.Globalization;
using System.Text;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.IO;
using DigitParity.Reporting;

namespace DigitParity.Cli;

/// <summary><c>digitparity predict</c>: the digit and the parity of handwritten-digit images.</summary>
internal static class PredictCommand
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp"];

    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = CommandOptions.ModelOption("use");
        var config = CommandOptions.ConfigOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object per image instead of text" };
        var threads = CommandOptions.ThreadsOption();
        var explain = new Option<string?>("--explain")
        {
            Description = "Also write a PNG of the 28 x 28 input and each head's saliency (gradient x input of its answer); one image only",
            HelpName = "OUT.png",
        };
        var files = new Argument<string[]>("FILE|DIR") { Description = "PNG, JPEG or BMP images, or directories of them", Arity = ArgumentArity.OneOrMore };
        var command = new Command("predict", $"Predict the digit and parity of images (any size; at most {DigitImage.MaxPixels:N0} pixels)")
        {
            model, config, json, threads, explain, files,
        };
        command.SetAction(parse =>
        {
            string? explainPath = parse.GetValue(explain);
            var inputs = parse.GetValue(files)!;
            if (explainPath is not null)
            {
                if (inputs.Length != 1 || Directory.Exists(inputs[0]))
                    throw new ArgumentException($"--explain {explainPath}: explains one image file; got {(inputs.Length == 1 ? "a directory" : $"{inputs.Length} inputs")}");
                OutputPaths.CheckWritable(explainPath, "the explanation");
            }
            string modelPath = CommandOptions.ModelPath(parse, model, error);
            var loaded = CommandOptions.Load(parse, config, modelPath);
            Predictor.RequireDigitImages(loaded.Network, modelPath, "to predict image files");
            var paths = new List<string>();
            int failures = 0;
            foreach (string item in inputs)
            {
                if (Directory.Exists(item))
                    paths.AddRange(Directory.EnumerateFiles(item).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal));
                else
                    paths.Add(item);
            }
            // Files decode in parallel; answers and errors come out in the files' order, the images predicted in batches.
            var decoded = new byte[paths.Count][];
            var problems = new string?[paths.Count];
            void Decode(int i)
            {
                try
                {
                    decoded[i] = DigitImage.Load(paths[i]);
                }
                catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    problems[i] = e.Message;
                }
            }
            // No more workers than files: one file decodes on this thread, without starting the thread pool.
            int workers = Math.Min(parse.GetValue(threads), paths.Count);
            if (workers <= 1)
                for (int i = 0; i < paths.Count; i++) Decode(i);
            else
                Parallel.For(0, paths.Count, new ParallelOptions { MaxDegreeOfParallelism = workers }, Decode);
            var images = new List<(string Path, byte[] Pixels)>();
            for (int i = 0; i < paths.Count; i++)
            {
                if (problems[i] is { } problem)
                {
                    error.WriteLine($"digitparity: error: {UserError.Printable(problem)}");
                    failures++;
                }
                else images.Add((paths[i], decoded[i]));
            }
            using var predictor = new Predictor(loaded.Network, threads: Math.Max(1, Math.Min(parse.GetValue(threads), images.Count)));
            if (explainPath is not null && images.Count == 1)
            {
                var explanation = predictor.Explain(images[0].Pixels);
                output.WriteLine(parse.GetValue(json) ? Json(images[0].Path, explanation.Prediction) : Text(images[0].Path, explanation.Prediction));
                byte[] png = ReportPlots.Explanation(explanation, DigitImage.Side, $"{Path.GetFileName(images[0].Path)}: why each head answered");
                AtomicFile.Write(explainPath, stream => stream.Write(png));
                error.WriteLine($"Explanation written to {explainPath}");
                return 0;
            }
            var predictions = predictor.Predict(images.Select(i => i.Pixels).ToList());
            for (int i = 0; i < images.Count; i++)
                output.WriteLine(parse.GetValue(json) ? Json(images[i].Path, predictions[i]) : Text(images[i].Path, predictions[i]));
            return failures == 0 ? 0 : 1;
        });
        return command;
    }

    internal static string Text(string path, Prediction prediction)
    {
        var c = CultureInfo.InvariantCulture;
        // File and class names are printed escaped: a name holding a newline or a terminal escape cannot forge a line.
        var text = new StringBuilder(UserError.Printable(path)).Append(':');
        if (prediction.Rejected) text.Append(c, $"  not a digit (score {prediction.Score:0.00}, below the model's threshold); the heads would say");
        foreach (var task in prediction.Tasks)
        {
            if (task.Answer == task.Label) text.Append(c, $"  {UserError.Printable(task.Task)} {UserError.Printable(task.Name)} ({task.Probabilities[task.Label]:P1})");
            else text.Append(c, $"  {UserError.Printable(task.Task)} {UserError.Printable(task.AnswerName)} (joint; head alone {UserError.Printable(task.Name)} {task.Probabilities[task.Label]:P1})");
        }
        text.Append(prediction.HeadsAgree ? "  heads agree" : "  heads DISAGREE");
        foreach (var task in prediction.Tasks)
            text.Append(c, $"\n    {UserError.Printable(task.Task),-7} ").Append(string.Join(' ', task.Probabilities.Select((p, k) => string.Create(c, $"{k}:{p:0.000}"))));
        return text.ToString();
    }

    internal static string Json(string path, Prediction prediction)
    {
        var json = new System.Text.Json.Nodes.JsonObject { ["file"] = path };
        foreach (var (key, value) in PredictionJson.ToJson(prediction).ToList()) json[key] = value?.DeepClone();
        return json.ToJsonString();
    }
}

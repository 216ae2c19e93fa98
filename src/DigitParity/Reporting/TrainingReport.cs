using System.Globalization;
using System.Net;
using System.Text;
using DigitParity.Data;
using DigitParity.IO;
using DigitParity.Inference;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Tasks;

namespace DigitParity.Reporting;

/// <summary>Everything a report shows: the run's epochs and the model's answers on every validation image.</summary>
/// <param name="Title">Heading of the report (e.g. the model's file).</param>
/// <param name="Epochs">Per-epoch figures of the run (empty when the model carries none).</param>
/// <param name="Tasks">The heads, class head first.</param>
/// <param name="Images">The validation images.</param>
/// <param name="Labels">Per task, the true label of every validation image.</param>
/// <param name="Predictions">The model's answer for every validation image.</param>
/// <param name="Final">Validation figures of the model as it is now.</param>
/// <param name="Consistency">How every derived head agrees with the class head.</param>
/// <param name="Calibration">Every head's calibration on the validation images, at its temperature.</param>
/// <param name="Mistakes">The gallery's images (<see cref="TrainingReport.WorstMistakes(ReportContent, int)"/>) with their explanations, worst first.</param>
internal sealed record ReportContent(string Title, IReadOnlyList<EpochResult> Epochs, IReadOnlyList<TaskDefinition> Tasks, Dataset Images,
    IReadOnlyList<int[]> Labels, IReadOnlyList<Prediction> Predictions, MetricsSnapshot Final, IReadOnlyList<ConsistencyFigures> Consistency,
    IReadOnlyList<CalibrationFigures> Calibration, IReadOnlyList<(int Index, Explanation Why)> Mistakes);

/// <summary>
/// Writes a training report into a directory: <c>metrics.csv</c>, <c>metrics.json</c>, PNG figures (learning curves
/// per task, a confusion heatmap per task, the consistency grids, the gallery of worst mistakes) and one self-contained
/// <c>report.html</c> with every image embedded. Each file is written to a temporary name, then renamed.
/// </summary>
internal static class TrainingReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>How many of the most confident mistakes the gallery shows.</summary>
    public const int GallerySize = 24;

    /// <summary>Runs <paramref name="network"/> over <paramref name="validation"/> and gathers what the report needs.</summary>
    public static ReportContent Collect(string title, MultiTaskNetwork network, IReadOnlyList<EpochResult> epochs, LabeledDataset validation, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(validation);
        var consistency = new HeadConsistency(network.Tasks);
        var calibration = new Calibration(network.Tasks, network.Config.HeadWidth);
        MetricsSnapshot final;
        using (var evaluator = new Evaluator(network, threads))
            final = evaluator.Evaluate(validation, consistency, calibration);
        using var predictor = new Predictor(network, threads: threads);
        var images = new List<byte[]>(validation.Count);
        for (int i = 0; i < validation.Count; i++) images.Add(validation.Data.Image(i).ToArray());
        var predictions = predictor.Predict(images);
        var mistakes = WorstMistakes(predictions, validation.Labels[0]).Select(i => (i, predictor.Explain(images[i]))).ToList();
        return new ReportContent(title, epochs, network.Tasks, validation.Data, validation.Labels, predictions, final, consistency.Compute(),
            calibration.Compute(network.Temperatures), mistakes);
    }

    /// <summary>The most confident mistakes of the class head, worst first (ties: lower index first).</summary>
    public static IReadOnlyList<int> WorstMistakes(ReportContent content, int count = GallerySize)
    {
        ArgumentNullException.ThrowIfNull(content);
        return WorstMistakes(content.Predictions, content.Labels[0], count);
    }

    private static IReadOnlyList<int> WorstMistakes(IReadOnlyList<Prediction> predictions, int[] labels, int count = GallerySize) =>
        Enumerable.Range(0, predictions.Count)
            .Where(i => predictions[i].Tasks[0].Label != labels[i])
            .OrderByDescending(i => predictions[i].Tasks[0].Probabilities[predictions[i].Tasks[0].Label])
            .ThenBy(i => i)
            .Take(count)
            .ToList();

    /// <summary>Writes the report into <paramref name="directory"/> (created if needed); returns the files written.</summary>
    public static IReadOnlyList<string> Write(string directory, ReportContent content)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(content);
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        var figures = new List<(string File, string Caption, byte[] Png)>();
        void Save(string name, byte[] bytes)
        {
            string path = Path.Combine(directory, name);
            AtomicFile.Write(path, stream => stream.Write(bytes));
            written.Add(path);
        }

        Save("metrics.csv", Encoding.UTF8.GetBytes(Csv(content.Epochs)));
        using (var json = new MemoryStream())
        {
            MetricsJson.Write(json, content.Epochs);
            Save("metrics.json", json.ToArray());
        }
        if (content.Epochs.Count > 0)
        {
            foreach (string task in content.Tasks.Select(t => t.Name).Append("pooled"))
                figures.Add(($"curves-{task}.png", $"Learning curves: {task}", ReportPlots.LearningCurves(content.Epochs, task)));
        }
        for (int t = 0; t < content.Tasks.Count; t++)
            figures.Add(($"confusion-{content.Tasks[t].Name}.png", $"Confusion matrix: {content.Tasks[t].Name}", ReportPlots.ConfusionHeatmap(content.Tasks[t], content.Final.Tasks[t].Confusion)));
        for (int t = 1; t < content.Tasks.Count; t++)
            figures.Add(($"consistency-{content.Tasks[t].Name}.png", $"Consistency: {content.Tasks[0].Name} head vs {content.Tasks[t].Name} head",
                ReportPlots.ConsistencyGrid(content.Tasks[0], content.Tasks[t], content.Predictions, 0, t)));
        foreach (var head in content.Calibration)
            figures.Add(($"reliability-{head.Task}.png", $"Reliability diagram: {head.Task}", ReportPlots.ReliabilityDiagram(head)));
        figures.Add(("worst-mistakes.png", "Most confident mistakes, each with every head's saliency (orange: for its answer, blue: against)",
            ReportPlots.Gallery(content.Images, content.Labels, content.Tasks, content.Mistakes)));
        foreach (var figure in figures) Save(figure.File, figure.Png);
        Save("report.html", Encoding.UTF8.GetBytes(Html(content, figures)));
        return written;
    }

    /// <summary>One row per epoch: time, speed, learning rate, then loss and accuracy (pooled and per task) for training and validation.</summary>
    public static string Csv(IReadOnlyList<EpochResult> epochs)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        var text = new StringBuilder("epoch,seconds,samples_per_sec,learning_rate");
        var tasks = epochs.Count > 0 ? epochs[0].Train.Tasks.Select(t => t.Name).ToList() : [];
        foreach (string phase in new[] { "train", "validation" })
        {
            text.Append(Invariant, $",{phase}_loss,{phase}_pooled_accuracy");
            foreach (string task in tasks) text.Append(Invariant, $",{phase}_{task}_loss,{phase}_{task}_accuracy");
        }
        text.Append('\n');
        foreach (var epoch in epochs)
        {
            text.Append(Invariant, $"{epoch.Epoch},{epoch.Seconds:R},{epoch.SamplesPerSecond:R},{epoch.LearningRate:R}");
            foreach (var snapshot in new[] { epoch.Train, epoch.Validation })
            {
                text.Append(Invariant, $",{snapshot.Loss:R},{snapshot.PooledAccuracy:R}");
                foreach (string task in tasks) text.Append(Invariant, $",{snapshot[task].Loss:R},{snapshot[task].Accuracy:R}");
            }
            text.Append('\n');
        }
        return text.ToString();
    }

    private static string Html(ReportContent content, IReadOnlyList<(string File, string Caption, byte[] Png)> figures)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        string Img((string File, string Caption, byte[] Png) f) =>
            $"<figure><img src=\"data:image/png;base64,{Convert.ToBase64String(f.Png)}\" alt=\"{E(f.Caption)}\"><figcaption>{E(f.Caption)} <span class=\"file\">({E(f.File)})</span></figcaption></figure>\n";
        IEnumerable<(string File, string Caption, byte[] Png)> Named(string prefix) => figures.Where(f => f.File.StartsWith(prefix, StringComparison.Ordinal));

        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        html.Append(Invariant, $"<title>DigitParity report — {E(content.Title)}</title>\n");
        html.Append("""
            <style>
            body { font-family: system-ui, "DejaVu Sans", sans-serif; color: #1d2330; max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
            h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #dde3ee; padding-bottom: .3rem; }
            .muted, .file { color: #5b6475; font-size: .9rem; }
            table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
            th, td { border: 1px solid #dde3ee; padding: .25rem .6rem; text-align: right; white-space: nowrap; } th { background: #f3f6fb; }
            td:first-child, th:first-child { text-align: left; }
            .figures { display: flex; flex-wrap: wrap; gap: 1rem; }
            figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #eef1f6; } .figures img { max-width: 500px; } .wide { overflow-x: auto; } .wide table { font-size: .82rem; } figcaption { font-size: .9rem; margin-top: .2rem; }
            </style>
            </head>
            <body>

            """);
        html.Append(Invariant, $"<h1>DigitParity report</h1>\n<p class=\"muted\">{E(content.Title)} — heads: {E(string.Join(", ", content.Tasks.Select(t => t.Name)))}; {content.Images.Count} validation images.</p>\n");

        html.Append("<h2>Validation figures</h2>\n<table>\n<tr><th>task</th><th>accuracy</th><th>loss</th></tr>\n");
        foreach (var task in content.Final.Tasks) html.Append(Invariant, $"<tr><td>{E(task.Name)}</td><td>{100 * task.Accuracy:0.00} %</td><td>{task.Loss:0.0000}</td></tr>\n");
        html.Append(Invariant, $"<tr><td>pooled (all heads)</td><td>{100 * content.Final.PooledAccuracy:0.00} %</td><td>{content.Final.Loss:0.0000}</td></tr>\n</table>\n");

        if (content.Epochs.Count > 0)
        {
            html.Append("<h2>Training run</h2>\n<div class=\"wide\"><table>\n<tr><th>epoch</th><th>seconds</th><th>samples/sec</th><th>learning rate</th><th>train loss</th><th>train pooled</th>");
            foreach (var task in content.Tasks) html.Append(Invariant, $"<th>train {E(task.Name)}</th>");
            html.Append("<th>val loss</th><th>val pooled</th>");
            foreach (var task in content.Tasks) html.Append(Invariant, $"<th>val {E(task.Name)}</th>");
            html.Append("</tr>\n");
            foreach (var epoch in content.Epochs)
            {
                html.Append(Invariant, $"<tr><td>{epoch.Epoch}</td><td>{epoch.Seconds:0.00}</td><td>{epoch.SamplesPerSecond:N0}</td><td>{epoch.LearningRate:G4}</td><td>{epoch.Train.Loss:0.0000}</td><td>{100 * epoch.Train.PooledAccuracy:0.00} %</td>");
                foreach (var task in content.Tasks) html.Append(Invariant, $"<td>{100 * epoch.Train[task.Name].Accuracy:0.00} %</td>");
                html.Append(Invariant, $"<td>{epoch.Validation.Loss:0.0000}</td><td>{100 * epoch.Validation.PooledAccuracy:0.00} %</td>");
                foreach (var task in content.Tasks) html.Append(Invariant, $"<td>{100 * epoch.Validation[task.Name].Accuracy:0.00} %</td>");
                html.Append("</tr>\n");
            }
            html.Append("</table></div>\n<div class=\"figures\">\n");
            foreach (var figure in Named("curves-")) html.Append(Img(figure));
            html.Append("</div>\n");
        }
        else
        {
            html.Append("<h2>Training run</h2>\n<p class=\"muted\">The model carries no per-epoch metrics, so there are no learning curves.</p>\n");
        }

        html.Append("<h2>Confusion matrices</h2>\n<p class=\"muted\">Rows: true label; columns: predicted. Blue: correct; red: mistakes, shaded by their share of the row.</p>\n<div class=\"figures\">\n");
        foreach (var figure in Named("confusion-")) html.Append(Img(figure));
        html.Append("</div>\n");
        for (int t = 0; t < content.Tasks.Count; t++)
        {
            html.Append(Invariant, $"<table>\n<tr><th>{E(content.Tasks[t].Name)}</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
            foreach (var c in ClassFigures.From(content.Tasks[t], content.Final.Tasks[t].Confusion))
                html.Append(Invariant, $"<tr><td>{E(c.Name)}</td><td>{c.Precision:0.0000}</td><td>{c.Recall:0.0000}</td><td>{c.F1:0.0000}</td><td>{c.Support}</td></tr>\n");
            html.Append("</table>\n");
        }

        if (content.Consistency.Count > 0)
        {
            string head = content.Tasks[0].Name;
            html.Append(Invariant, $"<h2>Cross-task consistency</h2>\n<p class=\"muted\">Does each head's answer follow from the {E(head)} head's answer? Accuracy is shown separately where the heads agree and where they contradict each other.</p>\n");
            html.Append(Invariant, $"<table>\n<tr><th>head</th><th>agree with {E(head)}</th><th>{E(head)} accuracy (agree)</th><th>{E(head)} accuracy (disagree)</th><th>head accuracy (agree)</th><th>head accuracy (disagree)</th></tr>\n");
            foreach (var f in content.Consistency)
                html.Append(Invariant, $"<tr><td>{E(f.Task)}</td><td>{100 * f.Agreement:0.00} %</td><td>{100 * f.ClassAccuracyWhenAgree:0.00} %</td><td>{100 * f.ClassAccuracyWhenDisagree:0.00} %</td><td>{100 * f.TaskAccuracyWhenAgree:0.00} %</td><td>{100 * f.TaskAccuracyWhenDisagree:0.00} %</td></tr>\n");
            html.Append("</table>\n<div class=\"figures\">\n");
            foreach (var figure in Named("consistency-")) html.Append(Img(figure));
            html.Append("</div>\n");
        }

        html.Append(Invariant, $"<h2>Calibration</h2>\n<p class=\"muted\">How often each head is right at each confidence ({Calibration.Bins} equal-width bins); a calibrated head follows the diagonal. T is the head's softmax temperature (1 unless fitted on held-out data).</p>\n");
        html.Append("<table>\n<tr><th>head</th><th>T</th><th>ECE</th><th>MCE</th><th>NLL</th><th>Brier</th></tr>\n");
        foreach (var f in content.Calibration)
            html.Append(Invariant, $"<tr><td>{E(f.Task)}</td><td>{f.Temperature:0.000}</td><td>{100 * f.ExpectedError:0.00} %</td><td>{100 * f.MaximumError:0.00} %</td><td>{f.NegativeLogLikelihood:0.0000}</td><td>{f.Brier:0.0000}</td></tr>\n");
        html.Append("</table>\n<div class=\"figures\">\n");
        foreach (var figure in Named("reliability-")) html.Append(Img(figure));
        html.Append("</div>\n");

        html.Append("<h2>Most confident mistakes</h2>\n<p class=\"muted\">Validation images the first head got wrong with the highest confidence; green: a head's right answer, orange: a wrong one.</p>\n");
        foreach (var figure in Named("worst-")) html.Append(Img(figure));
        html.Append("<p class=\"muted\">Files beside this page: metrics.csv, metrics.json and every figure as a PNG.</p>\n</body>\n</html>\n");
        return html.ToString();
    }
}

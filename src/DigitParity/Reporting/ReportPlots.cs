using System.Globalization;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Metrics;
using DigitParity.Tasks;
using SkiaSharp;

namespace DigitParity.Reporting;

/// <summary>
/// The report's figures as PNG bytes: learning curves (ScottPlot), confusion heatmaps, the consistency grid and the
/// gallery of worst mistakes (SkiaSharp, drawn cell by cell so every count stays legible).
/// </summary>
internal static class ReportPlots
{
    private const string FontFamily = "DejaVu Sans";
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>Accuracy (left axis) and loss (right axis) per epoch, training and validation, of one task or of "pooled".</summary>
    public static byte[] LearningCurves(IReadOnlyList<EpochResult> epochs, string task)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        double[] x = epochs.Select(e => (double)e.Epoch).ToArray();
        double Accuracy(Metrics.MetricsSnapshot s) => task == "pooled" ? s.PooledAccuracy : s[task].Accuracy;
        double Loss(Metrics.MetricsSnapshot s) => task == "pooled" ? s.Loss : s[task].Loss;

        var plot = new ScottPlot.Plot();
        plot.Font.Set(FontFamily);
        var blue = ScottPlot.Color.FromHex("#2f6fdf");
        var orange = ScottPlot.Color.FromHex("#d9730d");
        void Line(double[] y, string legend, ScottPlot.Color color, bool dashed, bool right)
        {
            var line = plot.Add.Scatter(x, y);
            line.LegendText = legend;
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 7;
            if (dashed) line.LinePattern = ScottPlot.LinePattern.Dashed;
            if (right) line.Axes.YAxis = plot.Axes.Right;
        }
        Line(epochs.Select(e => Accuracy(e.Train)).ToArray(), "train accuracy", blue, false, false);
        Line(epochs.Select(e => Accuracy(e.Validation)).ToArray(), "validation accuracy", orange, false, false);
        Line(epochs.Select(e => Loss(e.Train)).ToArray(), "train loss", blue, true, true);
        Line(epochs.Select(e => Loss(e.Validation)).ToArray(), "validation loss", orange, true, true);
        plot.Title($"{task}: learning curves");
        plot.XLabel("epoch");
        plot.YLabel("accuracy (solid)");
        plot.Axes.Right.Label.Text = "loss (dashed)";
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        if (x.Length == 1) plot.Axes.SetLimitsX(0.5, 1.5);
        plot.ShowLegend(ScottPlot.Alignment.MiddleRight);
        return plot.GetImageBytes(720, 420, ScottPlot.ImageFormat.Png);
    }

    /// <summary>
    /// A head's reliability diagram: per confidence bin, the accuracy of its predictions (bars) against the diagonal
    /// a perfectly calibrated head follows, and the bin's mean confidence (dots), with ECE in the title.
    /// </summary>
    public static byte[] ReliabilityDiagram(CalibrationFigures figures)
    {
        ArgumentNullException.ThrowIfNull(figures);
        var plot = new ScottPlot.Plot();
        plot.Font.Set(FontFamily);
        double width = 1.0 / Calibration.Bins;
        var filled = figures.Bins.Where(b => b.Count > 0).ToList();
        var bars = plot.Add.Bars(filled.Select(b => (b.Lower + b.Upper) / 2).ToArray(), filled.Select(b => b.Accuracy).ToArray());
        foreach (var bar in bars.Bars) { bar.Size = width * 0.9; bar.FillColor = ScottPlot.Color.FromHex("#2f6fdf"); }
        bars.LegendText = "accuracy";
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.Color = ScottPlot.Color.FromHex("#888888");
        diagonal.LinePattern = ScottPlot.LinePattern.Dashed;
        diagonal.LegendText = "perfect calibration";
        var means = plot.Add.ScatterPoints(filled.Select(b => (b.Lower + b.Upper) / 2).ToArray(), filled.Select(b => b.Confidence).ToArray());
        means.Color = ScottPlot.Color.FromHex("#d9730d");
        means.MarkerSize = 8;
        means.LegendText = "mean confidence";
        plot.Title(string.Create(Invariant, $"{figures.Task}: reliability (T = {figures.Temperature:0.000}, ECE {figures.ExpectedError:P2}, {figures.Samples:N0} samples)"));
        plot.XLabel("confidence");
        plot.YLabel("accuracy");
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        return plot.GetImageBytes(560, 480, ScottPlot.ImageFormat.Png);
    }

    /// <summary>Heatmap of a confusion matrix (rows: true label, columns: predicted), shaded by the share of each row.</summary>
    public static byte[] ConfusionHeatmap(TaskDefinition task, long[][] counts)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(counts);
        int n = counts.Length;
        string[] names = Enumerable.Range(0, n).Select(task.ClassName).ToArray();
        int cell = n <= 3 ? 90 : n <= 12 ? 52 : 30;
        using var font = Font(cell >= 52 ? 14 : 10);
        float label = Math.Max(60, names.Max(s => font.MeasureText(s)) + 40);
        string heading = $"{task.Name}: confusion matrix (validation)";
        using var title = Font(16);
        int width = (int)Math.Max(label + n * cell + 20, title.MeasureText(heading) + 24), height = (int)(60 + label + n * cell);
        return Draw(width, height, canvas =>
        {
            Text(canvas, heading, width / 2f, 24, title, SKColors.Black, SKTextAlign.Center);
            float top = 50 + 28, left = label;
            Text(canvas, "predicted", left + n * cell / 2f, top - 10, font, SKColors.DimGray, SKTextAlign.Center);
            for (int r = 0; r < n; r++)
            {
                long rowSum = Math.Max(1, counts[r].Sum());
                Text(canvas, names[r], left - 8, top + r * cell + cell / 2f + 5, font, SKColors.Black, SKTextAlign.Right);
                for (int c = 0; c < n; c++)
                {
                    double share = (double)counts[r][c] / rowSum;
                    // Diagonal in blue, mistakes in red; a square root keeps rare mistakes visible.
                    var hue = r == c ? new SKColor(47, 111, 223) : new SKColor(200, 60, 40);
                    var fill = Blend(SKColors.White, hue, Math.Sqrt(share));
                    using var paint = new SKPaint { Color = fill };
                    canvas.DrawRect(left + c * cell, top + r * cell, cell - 1, cell - 1, paint);
                    if (counts[r][c] != 0 && cell >= 30)
                        Text(canvas, counts[r][c].ToString(Invariant), left + c * cell + cell / 2f, top + r * cell + cell / 2f + 5, font,
                            Math.Sqrt(share) > 0.55 ? SKColors.White : SKColors.Black, SKTextAlign.Center);
                }
            }
            for (int c = 0; c < n; c++)
                Text(canvas, names[c], left + c * cell + cell / 2f, top + n * cell + 20, font, SKColors.Black, SKTextAlign.Center);
            canvas.Save();
            canvas.RotateDegrees(-90, 16, top + n * cell / 2f);
            Text(canvas, "true label", 16, top + n * cell / 2f + 5, font, SKColors.DimGray, SKTextAlign.Center);
            canvas.Restore();
        });
    }

    /// <summary>
    /// For one derived head: how often each of the class head's answers (rows) came with each of the derived head's
    /// answers (columns). Cells where the two agree are blue, contradictions red.
    /// </summary>
    public static byte[] ConsistencyGrid(TaskDefinition classTask, TaskDefinition derived, IReadOnlyList<Prediction> predictions, int classIndex, int derivedIndex)
    {
        ArgumentNullException.ThrowIfNull(classTask);
        ArgumentNullException.ThrowIfNull(derived);
        ArgumentNullException.ThrowIfNull(predictions);
        int rows = classTask.ClassCount, columns = derived.ClassCount;
        var counts = new long[rows, columns];
        foreach (var p in predictions) counts[p.Tasks[classIndex].Label, p.Tasks[derivedIndex].Label]++;
        long agree = 0;
        for (int r = 0; r < rows; r++) agree += counts[r, derived.LabelOf(r)];
        int cellW = 110, cellH = rows <= 12 ? 30 : 14;
        using var font = Font(13);
        float left = Math.Max(90, Enumerable.Range(0, rows).Max(r => font.MeasureText(classTask.ClassName(r))) + 30);
        string footer = $"rows: {classTask.Name} head's answer; red: contradictions";
        int width = (int)Math.Max(left + columns * cellW + 30, font.MeasureText(footer) + 30), height = 110 + rows * cellH + 40;
        return Draw(width, height, canvas =>
        {
            using var title = Font(15);
            Text(canvas, $"{classTask.Name} head vs {derived.Name} head", width / 2f, 22, title, SKColors.Black, SKTextAlign.Center);
            Text(canvas, string.Create(Invariant, $"agree on {100.0 * agree / Math.Max(1, predictions.Count):0.00} % of {predictions.Count} images"),
                width / 2f, 42, font, SKColors.DimGray, SKTextAlign.Center);
            float top = 90;
            Text(canvas, $"{derived.Name} head says", left + columns * cellW / 2f, top - 24, font, SKColors.DimGray, SKTextAlign.Center);
            for (int c = 0; c < columns; c++)
                Text(canvas, derived.ClassName(c), left + c * cellW + cellW / 2f, top - 6, font, SKColors.Black, SKTextAlign.Center);
            for (int r = 0; r < rows; r++)
            {
                Text(canvas, classTask.ClassName(r), left - 8, top + r * cellH + cellH / 2f + 5, font, SKColors.Black, SKTextAlign.Right);
                long rowSum = 0;
                for (int c = 0; c < columns; c++) rowSum += counts[r, c];
                for (int c = 0; c < columns; c++)
                {
                    bool consistent = derived.LabelOf(r) == c;
                    double share = rowSum == 0 ? 0 : (double)counts[r, c] / rowSum;
                    var hue = consistent ? new SKColor(47, 111, 223) : new SKColor(200, 60, 40);
                    using var paint = new SKPaint { Color = Blend(SKColors.White, hue, counts[r, c] == 0 ? 0 : 0.15 + 0.85 * Math.Sqrt(share)) };
                    canvas.DrawRect(left + c * cellW, top + r * cellH, cellW - 1, cellH - 1, paint);
                    if (cellH >= 20)
                        Text(canvas, counts[r, c].ToString(Invariant), left + c * cellW + cellW / 2f, top + r * cellH + cellH / 2f + 5, font,
                            share > 0.3 ? SKColors.White : SKColors.Black, SKTextAlign.Center);
                }
            }
            Text(canvas, footer, width / 2f, top + rows * cellH + 24, font, SKColors.DimGray, SKTextAlign.Center);
        });
    }

    /// <summary>
    /// The validation images the class head got wrong with the most confidence, worst first: each image with its true
    /// label, then every head's saliency map with its answer and confidence.
    /// </summary>
    public static byte[] Gallery(Dataset images, IReadOnlyList<int[]> labels, IReadOnlyList<TaskDefinition> tasks,
        IReadOnlyList<(int Index, Explanation Why)> mistakes, int columns = 4)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(mistakes);
        const int Scale = 3, Gap = 6;
        int imageW = images.Columns * Scale, imageH = images.Rows * Scale;
        int cellW = (tasks.Count + 1) * (imageW + Gap) + 16, lineH = 16, cellH = imageH + 12 + lineH * 2 + 10;
        int rows = Math.Max(1, (mistakes.Count + columns - 1) / columns);
        int width = Math.Max(columns * cellW + 16, 420), height = 44 + rows * cellH;
        return Draw(width, height, canvas =>
        {
            using var title = Font(16);
            using var font = Font(11);
            Text(canvas, mistakes.Count == 0 ? "No mistakes on the validation set" : $"The {mistakes.Count} most confident mistakes of the {tasks[0].Name} head (validation)",
                width / 2f, 26, title, SKColors.Black, SKTextAlign.Center);
            for (int k = 0; k < mistakes.Count; k++)
            {
                var (i, why) = mistakes[k];
                float x = 8 + (k % columns) * cellW, y = 40 + (k / columns) * cellH;
                float caption = y + imageH + 14;
                DrawPixels(canvas, InputColors(why.Input), images.Columns, new SKRect(x, y, x + imageW, y + imageH));
                Text(canvas, $"true {tasks[0].ClassName(labels[0][i])}", x + imageW / 2f, caption, font, SKColors.Black, SKTextAlign.Center);
                Text(canvas, "input", x + imageW / 2f, caption + lineH, font, SKColors.DimGray, SKTextAlign.Center);
                for (int t = 0; t < tasks.Count; t++)
                {
                    var answer = why.Prediction.Tasks[t];
                    float left = x + (t + 1) * (imageW + Gap);
                    DrawPixels(canvas, SaliencyColors(why.Input, why.Heads[t]), images.Columns, new SKRect(left, y, left + imageW, y + imageH));
                    bool right = answer.Label == labels[t][i];
                    var color = right ? new SKColor(30, 107, 52) : new SKColor(181, 71, 27);
                    Text(canvas, answer.Task, left + imageW / 2f, caption, font, color, SKTextAlign.Center);
                    Text(canvas, string.Create(Invariant, $"{answer.Name} {100 * answer.Probabilities[answer.Label]:0.0}%"), left + imageW / 2f, caption + lineH, font, color,
                        SKTextAlign.Center);
                }
            }
        });
    }

    /// <summary>
    /// An explanation as one picture: the 28 × 28 input the network saw, then per head its answer's saliency over the
    /// dimmed input (orange: the ink there argues for the answer, blue: against it; each map scaled to its own peak).
    /// </summary>
    public static byte[] Explanation(Explanation explanation, int side, string title)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        const int Scale = 8, Gap = 16;
        int panel = side * Scale, panels = explanation.Heads.Count + 1;
        int width = panels * panel + (panels + 1) * Gap, height = 44 + panel + 48;
        return Draw(width, height, canvas =>
        {
            using var titleFont = Font(15);
            using var font = Font(13);
            Text(canvas, title, width / 2f, 26, titleFont, SKColors.Black, SKTextAlign.Center);
            float top = 40, captionY = top + panel + 22;
            DrawPixels(canvas, InputColors(explanation.Input), side, new SKRect(Gap, top, Gap + panel, top + panel));
            Text(canvas, $"input {side} x {side}", Gap + panel / 2f, captionY, font, SKColors.Black, SKTextAlign.Center);
            for (int t = 0; t < explanation.Heads.Count; t++)
            {
                var map = explanation.Heads[t];
                var answer = explanation.Prediction.Tasks[t];
                float left = Gap + (t + 1) * (panel + Gap);
                DrawPixels(canvas, SaliencyColors(explanation.Input, map), side, new SKRect(left, top, left + panel, top + panel));
                Text(canvas, string.Create(Invariant, $"{map.Task}: {map.ClassName} ({100 * answer.Probabilities[map.Class]:0.0}%)"),
                    left + panel / 2f, captionY, font, SKColors.Black, SKTextAlign.Center);
            }
            string legend = explanation.Prediction.Rejected ? "not a digit: the model's score is below its threshold" : "orange: for the answer   blue: against it";
            Text(canvas, legend, width / 2f, captionY + 20, font, SKColors.DimGray, SKTextAlign.Center);
        });
    }

    // Ink white on black, as MNIST.
    private static SKColor[] InputColors(float[] input) => input.Select(v => { byte g = (byte)Math.Round(255 * Math.Clamp(v, 0, 1)); return new SKColor(g, g, g); }).ToArray();

    // The input dimmed to a third, blended towards orange (for) or blue (against) by |value| / peak.
    internal static SKColor[] SaliencyColors(float[] input, Saliency map)
    {
        float peak = map.Peak;
        var colors = new SKColor[input.Length];
        for (int i = 0; i < input.Length; i++)
        {
            byte g = (byte)Math.Round(85 * Math.Clamp(input[i], 0, 1));
            double strength = peak > 0 ? Math.Sqrt(Math.Abs(map.Values[i]) / peak) : 0;
            colors[i] = Blend(new SKColor(g, g, g), map.Values[i] >= 0 ? new SKColor(255, 140, 0) : new SKColor(40, 120, 255), strength);
        }
        return colors;
    }

    private static void DrawPixels(SKCanvas canvas, SKColor[] colors, int side, SKRect where)
    {
        using var bitmap = new SKBitmap(side, colors.Length / side, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int i = 0; i < colors.Length; i++) bitmap.SetPixel(i % side, i / side, colors[i]);
        using var image = SKImage.FromBitmap(bitmap);
        using var paint = new SKPaint();
        canvas.DrawImage(image, where, new SKSamplingOptions(SKFilterMode.Nearest), paint);
    }

    private static SKFont Font(float size) => new(SKTypeface.FromFamilyName(FontFamily) ?? SKTypeface.Default, size);

    private static void Text(SKCanvas canvas, string text, float x, float y, SKFont font, SKColor color, SKTextAlign align)
    {
        using var paint = new SKPaint { Color = color, IsAntialias = true };
        canvas.DrawText(text, x, y, align, font, paint);
    }

    private static SKColor Blend(SKColor from, SKColor to, double t)
    {
        t = Math.Clamp(t, 0, 1);
        byte Mix(byte a, byte b) => (byte)Math.Round(a + (b - a) * t);
        return new SKColor(Mix(from.Red, to.Red), Mix(from.Green, to.Green), Mix(from.Blue, to.Blue));
    }

    private static byte[] Draw(int width, int height, Action<SKCanvas> draw)
    {
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        surface.Canvas.Clear(SKColors.White);
        draw(surface.Canvas);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}

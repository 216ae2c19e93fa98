using System.Text.RegularExpressions;
using DigitParity.Cli;
using DigitParity.Data;
using DigitParity.Metrics;
using DigitParity.Reporting;
using DigitParity.Tasks;
using DigitParity.Training;
using SkiaSharp;

namespace DigitParity.Tests;

public sealed class ReportTests
{
    // A short real run (3 epochs on 3,000 images) whose epochs and model every test reports on.
    private static readonly Lazy<(Model.MultiTaskNetwork Network, IReadOnlyList<EpochResult> Epochs, LabeledDataset Validation)> Run = new(() =>
    {
        var config = Model.ModelConfig.Tutorial;
        var network = new Model.MultiTaskNetwork(config);
        network.Initialize(5);
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 3 });
        var validation = new LabeledDataset(TestData.Mnist.Test.Take(600), config.Tasks);
        var epochs = trainer.Fit(new LabeledDataset(TestData.Mnist.Train.Take(3000), config.Tasks), validation);
        return (network, epochs, validation);
    });

    [Fact]
    public void MetricsJsonReadsBackWhatWasWritten()
    {
        var epochs = Run.Value.Epochs;
        using var stream = new MemoryStream();
        MetricsJson.Write(stream, epochs);
        var read = MetricsJson.Read(System.Text.Encoding.UTF8.GetString(stream.ToArray()), "test");
        Assert.Equal(epochs.Count, read.Count);
        for (int e = 0; e < epochs.Count; e++)
        {
            Assert.Equal(epochs[e].Epoch, read[e].Epoch);
            Assert.Equal(epochs[e].SamplesPerSecond, read[e].SamplesPerSecond);
            Assert.Equal(epochs[e].LearningRate, read[e].LearningRate);
            foreach (var (expected, actual) in new[] { (epochs[e].Train, read[e].Train), (epochs[e].Validation, read[e].Validation) })
            {
                Assert.Equal(expected.PooledAccuracy, actual.PooledAccuracy);
                Assert.Equal(expected.Loss, actual.Loss);
                for (int t = 0; t < expected.Tasks.Count; t++)
                {
                    Assert.Equal(expected.Tasks[t].Name, actual.Tasks[t].Name);
                    Assert.Equal(expected.Tasks[t].Accuracy, actual.Tasks[t].Accuracy);
                    Assert.Equal(expected.Tasks[t].Confusion, actual.Tasks[t].Confusion);
                }
            }
        }
        var error = Assert.Throws<InvalidDataException>(() => MetricsJson.Read("{\"epochs\": [{\"epoch\": \"one\"}]}", "model.safetensors"));
        Assert.StartsWith("model.safetensors: metrics are not in the digitparity metrics JSON shape", error.Message);
    }

    [Fact]
    public void CsvHoldsEveryEpochsFiguresPerTaskAndPooled()
    {
        var epochs = Run.Value.Epochs;
        string[] lines = TrainingReport.Csv(epochs).TrimEnd('\n').Split('\n');
        string[] header = lines[0].Split(',');
        Assert.Equal(epochs.Count + 1, lines.Length);
        for (int e = 0; e < epochs.Count; e++)
        {
            var row = header.Zip(lines[e + 1].Split(',')).ToDictionary(p => p.First, p => double.Parse(p.Second, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(epochs[e].Epoch, row["epoch"]);
            Assert.Equal(epochs[e].SamplesPerSecond, row["samples_per_sec"]);
            Assert.Equal(epochs[e].LearningRate, (float)row["learning_rate"]);
            Assert.Equal(epochs[e].Train.PooledAccuracy, row["train_pooled_accuracy"]);
            Assert.Equal(epochs[e].Validation.Loss, row["validation_loss"]);
            Assert.Equal(epochs[e].Validation["digit"].Accuracy, row["validation_digit_accuracy"]);
            Assert.Equal(epochs[e].Train["parity"].Loss, row["train_parity_loss"]);
        }
    }

    [Fact]
    public void TheGalleryShowsTheMostConfidentMistakesFirst()
    {
        var (network, epochs, validation) = Run.Value;
        var content = TrainingReport.Collect("test", network, epochs, validation);
        var worst = TrainingReport.WorstMistakes(content, 1000);
        // Oracle: every mistake, by brute force, and nothing else; confidence never increases down the list.
        var mistakes = Enumerable.Range(0, validation.Count).Where(i => content.Predictions[i].Tasks[0].Label != validation.Labels[0][i]).ToHashSet();
        Assert.Equal(mistakes.Order(), worst.Order());
        double Confidence(int i) => content.Predictions[i].Tasks[0].Probabilities.Max();
        for (int k = 1; k < worst.Count; k++) Assert.True(Confidence(worst[k - 1]) >= Confidence(worst[k]));
        // The report's final figures are the model's on this set.
        Assert.Equal(1 - (double)mistakes.Count / validation.Count, content.Final["digit"].Accuracy, 12);
    }

    [Fact]
    public void HeatmapCellsAreShadedByTheirShareOfTheRow()
    {
        // Class 0 always right, class 1 always mistaken for 0: diagonal (0,0) full blue, (1,0) full red, (1,1) white.
        long[][] counts = [[10, 0], [7, 0]];
        using var bitmap = SKBitmap.Decode(ReportPlots.ConfusionHeatmap(TaskDefinition.Parity, counts));
        var cells = FindCells(bitmap);
        Assert.Equal(new SKColor(47, 111, 223), cells[(0, 0)]);
        Assert.Equal(new SKColor(200, 60, 40), cells[(1, 0)]);
        Assert.Equal(SKColors.White, cells[(1, 1)]);
    }

    // The colours at the centres of a 2 x 2 grid of 90-px cells, found from the first blue pixel (cell 0,0).
    private static Dictionary<(int, int), SKColor> FindCells(SKBitmap bitmap)
    {
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
                if (bitmap.GetPixel(x, y) == new SKColor(47, 111, 223))
                {
                    // Sample off-centre so the count's text does not cover the sample.
                    SKColor At(int r, int c) => bitmap.GetPixel(x + c * 90 + 8, y + r * 90 + 8);
                    return new() { [(0, 0)] = At(0, 0), [(0, 1)] = At(0, 1), [(1, 0)] = At(1, 0), [(1, 1)] = At(1, 1) };
                }
        throw new InvalidOperationException("no diagonal cell found");
    }

    [Fact]
    public void TheReportIsSelfContainedAndEmbedsEveryFigure()
    {
        var (network, epochs, validation) = Run.Value;
        string dir = Directory.CreateTempSubdirectory("digitparity-report-").FullName;
        var written = TrainingReport.Write(dir, TrainingReport.Collect("model.safetensors", network, epochs, validation));
        string[] expected =
        [
            "metrics.csv", "metrics.json", "curves-digit.png", "curves-parity.png", "curves-pooled.png", "confusion-digit.png",
            "confusion-parity.png", "consistency-parity.png", "reliability-digit.png", "reliability-parity.png", "worst-mistakes.png", "report.html",
        ];
        Assert.Equal(expected.Order(), written.Select(Path.GetFileName).Order());
        Assert.Equal(expected.Order(), Directory.GetFiles(dir).Select(Path.GetFileName).Order()); // no temporary files left
        string html = File.ReadAllText(Path.Combine(dir, "report.html"));
        foreach (string png in expected.Where(f => f.EndsWith(".png")))
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(dir, png));
            using var bitmap = SKBitmap.Decode(bytes);
            Assert.True(bitmap is { Width: > 200, Height: > 200 }, png);
            Assert.Contains(Convert.ToBase64String(bytes), html);
        }
        // Nothing is fetched from elsewhere: every src is a data: URI, no link to a stylesheet or script.
        Assert.All(Regex.Matches(html, "src=\"([^\"]*)\"").Select(m => m.Groups[1].Value), src => Assert.StartsWith("data:image/png;base64,", src));
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotContain("<script", html);
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{100 * epochs[^1].Validation["digit"].Accuracy:0.00} %"), html);
    }

    [Fact]
    public void TrainWithReportAndTheReportCommandWriteTheSameFigures()
    {
        string data = TestData.WriteMnistSubset(2000, 500, gzip: false);
        string work = Directory.CreateTempSubdirectory("digitparity-report-cli-").FullName;
        string model = Path.Combine(work, "model.safetensors");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--data", data, "--epochs", "2", "--task", "parity", "--task", "loop", "--save", model, "--report", Path.Combine(work, "a")], output, new StringWriter()));
        Assert.Contains($"Report written to {Path.Combine(work, "a", "report.html")}", output.ToString());
        var second = new StringWriter();
        Assert.Equal(0, Program.Run(["report", "--model", model, "--data", data, "--out", Path.Combine(work, "b")], second, new StringWriter()));
        Assert.Equal($"Report written to {Path.Combine(work, "b", "report.html")} (2 epochs, 500 test images)\n", second.ToString());
        foreach (string file in new[] { "metrics.csv", "confusion-loop.png", "consistency-loop.png", "worst-mistakes.png" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(work, "a", file)), File.ReadAllBytes(Path.Combine(work, "b", file)));
    }

    [Fact]
    public void ReportErrorsAreOneLine()
    {
        string work = Directory.CreateTempSubdirectory("digitparity-report-err-").FullName;
        string missing = Path.Combine(work, "missing.safetensors");
        var error = new StringWriter();
        Assert.Equal(1, Program.Run(["report", "--model", missing, "--out", Path.Combine(work, "out")], new StringWriter(), error));
        Assert.StartsWith($"digitparity: error: {missing}", Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)));

        string file = Path.Combine(work, "a-file");
        File.WriteAllText(file, "x");
        error = new StringWriter();
        Assert.Equal(1, Program.Run(["report", "--model", missing, "--out", file], new StringWriter(), error));
        Assert.Equal($"digitparity: error: {file}: is a file, expected a directory for the report\n", error.ToString());

        error = new StringWriter();
        Assert.Equal(2, Program.Run(["report", "--model", missing], new StringWriter(), error));
        Assert.Contains("--out", error.ToString());
    }
}

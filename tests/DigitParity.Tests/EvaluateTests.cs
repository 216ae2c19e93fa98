using System.Text.Json;
using DigitParity.Metrics;
using DigitParity.Tasks;

namespace DigitParity.Tests;

public sealed class EvaluateTests
{
    [Fact]
    public void PerClassFiguresMatchAHandWorkedMatrix()
    {
        // rows = true: class 0 → 3 right, 1 wrong; class 1 → 2 predicted as 0, 4 right.
        var figures = ClassFigures.From(TaskDefinition.Parity, [[3, 1], [2, 4]]);
        Assert.Equal(("even", 4L), (figures[0].Name, figures[0].Support));
        Assert.Equal(3.0 / 5, figures[0].Precision, 12);
        Assert.Equal(3.0 / 4, figures[0].Recall, 12);
        Assert.Equal(2 * 0.6 * 0.75 / 1.35, figures[0].F1, 12);
        Assert.Equal(4.0 / 5, figures[1].Precision, 12);
        Assert.Equal(4.0 / 6, figures[1].Recall, 12);
        Assert.Equal(0, ClassFigures.From(TaskDefinition.Parity, [[0, 0], [0, 5]])[0].F1);
    }

    [Fact]
    public void ConsistencyCountsAgreementBetweenTheParityHeadAndTheDigitAnswer()
    {
        var consistency = new HeadConsistency(TaskDefinition.DigitAndParity);
        // digit predictions 3, 4, 7, 8 (right, right, wrong: truly 1, right); parity predictions odd, odd, odd, even.
        // Agree: sample 0 (3 → odd), 2 (7 → odd), 3 (8 → even); disagree: sample 1 (4 → even, head says odd).
        consistency.Update(4, [[3, 4, 1, 8], [1, 0, 1, 0]], [[3, 4, 7, 8], [1, 1, 1, 0]]);
        var parity = Assert.Single(consistency.Compute());
        Assert.Equal("parity", parity.Task);
        Assert.Equal(0.75, parity.Agreement, 12);
        Assert.Equal(2.0 / 3, parity.ClassAccuracyWhenAgree, 12);
        Assert.Equal(1.0, parity.TaskAccuracyWhenAgree, 12);
        Assert.Equal(1.0, parity.ClassAccuracyWhenDisagree, 12);
        Assert.Equal(0.0, parity.TaskAccuracyWhenDisagree, 12);
    }

    [Fact]
    public void EvaluateASavedModelAgreesWithTheTrainingRunsValidation()
    {
        string dir = TestData.WriteMnistSubset(2000, 400, gzip: false);
        string model = Path.Combine(dir, "model.safetensors"), metrics = Path.Combine(dir, "metrics.json"), json = Path.Combine(dir, "eval.json");
        Assert.Equal(0, DigitParity.Cli.Program.Run(["train", "--data", dir, "--epochs", "2", "--save", model, "--metrics", metrics], new StringWriter(), new StringWriter()));
        var output = new StringWriter();
        Assert.Equal(0, DigitParity.Cli.Program.Run(["evaluate", "--model", model, "--data", dir, "--json", json], output, new StringWriter()));
        Assert.Contains("Consistency of parity with the digit head", output.ToString());
        Assert.Contains("precision", output.ToString());

        using var trained = JsonDocument.Parse(File.ReadAllText(metrics));
        using var evaluated = JsonDocument.Parse(File.ReadAllText(json));
        double expected = trained.RootElement.GetProperty("epochs")[1].GetProperty("validation").GetProperty("tasks").GetProperty("digit").GetProperty("accuracy").GetDouble();
        var validation = evaluated.RootElement.GetProperty("validation");
        Assert.Equal(expected, validation.GetProperty("tasks").GetProperty("digit").GetProperty("accuracy").GetDouble());
        Assert.Equal(400, validation.GetProperty("samples").GetInt64());
        Assert.Equal(10, evaluated.RootElement.GetProperty("classes").GetProperty("digit").GetArrayLength());
        Assert.Equal("parity", evaluated.RootElement.GetProperty("consistency")[0].GetProperty("task").GetString());
    }

    // Two MLPs on the same data: each member's row is its own evaluation's accuracy, and the ensemble's rows follow from
    // JointDecision over the mean (checked by hand in CalibrationTests). A model with other heads is one line.
    [Fact]
    public void EvaluateScoresAnEnsembleBesideItsMembers()
    {
        string dir = TestData.WriteMnistSubset(2000, 400, gzip: false);
        string a = Path.Combine(dir, "a.safetensors"), b = Path.Combine(dir, "b.safetensors"), other = Path.Combine(dir, "other.safetensors");
        foreach (var (path, seed) in new[] { (a, "1"), (b, "2") })
            Assert.Equal(0, DigitParity.Cli.Program.Run(["train", "--data", dir, "--epochs", "1", "--seed", seed, "--save", path], new StringWriter(), new StringWriter()));
        var output = new StringWriter();
        Assert.Equal(0, DigitParity.Cli.Program.Run(["evaluate", "--model", a, "--data", dir, "--ensemble", b], output, new StringWriter()));
        string text = output.ToString();
        Assert.Contains("Ensemble of 2 models, voting by the mean of their tempered probabilities", text);

        string Row(string name) => text.Split('\n').Single(line => line.StartsWith("  " + name + " ", StringComparison.Ordinal));
        string Accuracies(double digit, double parity) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $" {digit,9:P2} {parity,9:P2}");
        foreach (string path in new[] { a, b })
        {
            var network = DigitParity.Checkpoints.Checkpoint.Load(path).Network;
            using var evaluator = new DigitParity.Inference.Evaluator(network);
            var own = evaluator.Evaluate(DigitParity.Data.MnistFiles.LoadTest(dir));
            Assert.EndsWith(Accuracies(own.Tasks[0].Accuracy, own.Tasks[1].Accuracy), Row(path));
        }
        Assert.Matches(@"^  ensemble +\d+\.\d\d % +\d+\.\d\d %$", Row("ensemble"));
        Assert.Matches(@"^  ensemble, joint decision +\d+\.\d\d % +\d+\.\d\d %$", Row("ensemble, joint decision"));

        Assert.Equal(0, DigitParity.Cli.Program.Run(["train", "--data", dir, "--epochs", "1", "--task", "prime", "--save", other], new StringWriter(), new StringWriter()));
        var error = new StringWriter();
        Assert.Equal(1, DigitParity.Cli.Program.Run(["evaluate", "--model", a, "--data", dir, "--ensemble", other], new StringWriter(), error));
        Assert.Equal($"digitparity: error: {other}: heads digit (10), prime (2) on 784 inputs, expected digit (10), parity (2) on 784 inputs as {a}", error.ToString().Trim());
    }

    // The view as given is the model's own evaluation; each shifted view is the evaluation of the shifted images.
    [Fact]
    public void TestTimeAugmentationScoresEachViewAndTheirVote()
    {
        string dir = TestData.WriteMnistSubset(2000, 400, gzip: false);
        string model = Path.Combine(dir, "model.safetensors");
        Assert.Equal(0, DigitParity.Cli.Program.Run(["train", "--data", dir, "--epochs", "1", "--save", model], new StringWriter(), new StringWriter()));
        var output = new StringWriter();
        Assert.Equal(0, DigitParity.Cli.Program.Run(["evaluate", "--model", model, "--data", dir, "--tta"], output, new StringWriter()));
        string text = output.ToString();
        Assert.Contains("Test-time augmentation, 5 views of each image, voting by the mean of their tempered probabilities", text);
        string Row(string name) => text.Split('\n').Single(line => line.StartsWith("  " + name + " ", StringComparison.Ordinal));
        var network = DigitParity.Checkpoints.Checkpoint.Load(model).Network;
        using var evaluator = new DigitParity.Inference.Evaluator(network);
        var test = DigitParity.Data.MnistFiles.LoadTest(dir);
        foreach (var (name, dx, dy) in new[] { ("as given", 0, 0), ("1 px right", 1, 0), ("1 px up", 0, -1) })
        {
            var own = evaluator.Evaluate(test.Shifted(dx, dy));
            Assert.EndsWith(string.Create(System.Globalization.CultureInfo.InvariantCulture, $" {own.Tasks[0].Accuracy,9:P2} {own.Tasks[1].Accuracy,9:P2}"), Row(name));
        }
        Assert.Matches(@"^  augmented +\d+\.\d\d % +\d+\.\d\d %$", Row("augmented"));
    }

    [Fact]
    public void EvaluateReportsAMissingModelAsOneLine()
    {
        var error = new StringWriter();
        int code = DigitParity.Cli.Program.Run(["evaluate", "--model", "/nonexistent/model.safetensors"], new StringWriter(), error);
        Assert.Equal(1, code);
        Assert.Equal("digitparity: error: /nonexistent/model.safetensors: file not found, expected a safetensors model", error.ToString().Trim());
    }
}

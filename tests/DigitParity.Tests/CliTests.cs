using System.Text.Json;
using DigitParity.Cli;
using DigitParity.Metrics;
using DigitParity.Tasks;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class CliTests
{
    [Theory]
    [InlineData("--epochs -1", "--epochs must be at least 1 (got -1)")]
    [InlineData("--batch-size 0", "--batch-size must be at least 1 (got 0)")]
    [InlineData("--threads 0", "--threads must be at least 1 (got 0)")]
    [InlineData("--lr -0.5", "--lr must be a positive number (got -0.5)")]
    [InlineData("--momentum 1.5", "--momentum must be a number in [0, 1) (got 1.5)")]
    [InlineData("--ema 1", "--ema must be a number in [0, 1) (got 1)")]
    [InlineData("--label-smoothing 1", "--label-smoothing must be a number in [0, 1) (got 1)")]
    [InlineData("--elastic 1.5", "--elastic needs --augment")]
    [InlineData("--lr abc", "Cannot parse argument 'abc' for option '--lr'")]
    [InlineData("--bogus", "Unrecognized command or argument '--bogus'")]
    public void BadValuesGiveOneLineAndExitCode2(string args, string expected)
    {
        var (code, output, error) = Run(["train", .. args.Split(' ')]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        string line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("digitparity: error: ", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void MissingDataDirectoryGivesOneLineNamingIt()
    {
        string missing = Path.Combine(Path.GetTempPath(), "digitparity-no-such-dir");
        var (code, _, error) = Run(["train", "--data", missing]);
        Assert.Equal(1, code);
        Assert.Equal($"digitparity: error: {missing}: directory not found, expected a directory holding the four MNIST IDX files\n", error);
    }

    [Fact]
    public void CorruptDataFileGivesOneLineNamingTheFile()
    {
        string dir = TestData.WriteMnistSubset(50, 20, gzip: false);
        string labels = Path.Combine(dir, "t10k-labels-idx1-ubyte");
        File.WriteAllBytes(labels, TestData.LabelsIdx(1, 2, 3));
        var (code, _, error) = Run(["train", "--data", dir]);
        Assert.Equal(1, code);
        Assert.Equal($"digitparity: error: {labels}: 3 labels, expected 20 to match the images in {Path.Combine(dir, "t10k-images-idx3-ubyte")}\n", error);
    }

    [Fact]
    public void HelpListsEveryOptionWithItsDefault()
    {
        var (code, output, _) = Run(["train", "--help"]);
        Assert.Equal(0, code);
        foreach (var expected in new[] { "--epochs", "[default: 3]", "--batch-size", "[default: 100]", "--lr", "[default: 0.1]",
                     "--momentum", "[default: 0.9]", "--weight-decay", "[default: 1E-05]", "--seed", "[default: 1]", "--data",
                     "--threads", "--log-interval", "--metrics", "digitparity train [options]" })
            Assert.Contains(expected, output);
    }

    // The smoothed run says so and trains other weights; its validation loss stays plain cross-entropy, which the
    // epoch's figures and a fresh evaluation of the saved model agree on.
    [Fact]
    public void LabelSmoothingIsSaidAndChangesTheWeights()
    {
        string dir = TestData.WriteMnistSubset(500, 100, gzip: false);
        string plain = Path.Combine(dir, "plain.safetensors"), smoothed = Path.Combine(dir, "smoothed.safetensors");
        string metrics = Path.Combine(dir, "smoothed.json");
        var (code, output, error) = Run(["train", "--data", dir, "--epochs", "1", "--label-smoothing", "0.1", "--save", smoothed, "--metrics", metrics]);
        Assert.Equal("", error);
        Assert.Equal(0, code);
        Assert.Contains(", label smoothing 0.1, batch 100", output);
        (code, output, _) = Run(["train", "--data", dir, "--epochs", "1", "--save", plain]);
        Assert.Equal(0, code);
        Assert.DoesNotContain("label smoothing", output);
        Assert.NotEqual(DigitParity.IO.SafeTensors.Read(plain)["fc1.weight"].Data, DigitParity.IO.SafeTensors.Read(smoothed)["fc1.weight"].Data);

        using var json = JsonDocument.Parse(File.ReadAllText(metrics));
        double epochLoss = json.RootElement.GetProperty("epochs")[0].GetProperty("validation").GetProperty("loss").GetDouble();
        var network = DigitParity.Checkpoints.Checkpoint.Load(smoothed).Network;
        using var evaluator = new DigitParity.Inference.Evaluator(network);
        var evaluation = evaluator.Evaluate(DigitParity.Data.MnistFiles.Load(dir).Test);
        Assert.Equal(epochLoss, evaluation.Loss, 1e-6);
    }

    [Fact]
    public void AugmentedTrainingSaysWhichDistortionsItDraws()
    {
        string dir = TestData.WriteMnistSubset(500, 100, gzip: false);
        var (code, output, error) = Run(["train", "--data", dir, "--epochs", "1", "--augment", "--elastic", "1.5"]);
        Assert.Equal("", error);
        Assert.Equal(0, code);
        Assert.Contains("Augmentation: shifts up to 2 px, rotations up to 10°, scaling up to 10 %, elastic displacements up to 1.5 px\n", output);
        (code, output, _) = Run(["train", "--data", dir, "--epochs", "1"]);
        Assert.Equal(0, code);
        Assert.DoesNotContain("Augmentation:", output);
    }

    [Fact]
    public void TrainOnADataDirectoryPrintsTheTutorialsLinesAndWritesMetricsJson()
    {
        string dir = TestData.WriteMnistSubset(2000, 500, gzip: true);
        string metrics = Path.Combine(dir, "metrics.json");
        var (code, output, error) = Run(["train", "--data", dir, "--epochs", "2", "--log-interval", "10", "--metrics", metrics]);
        Assert.Equal("", error);
        Assert.Equal(0, code);
        Assert.Contains("Data: 2000 training and 500 test images (evaluated after every epoch) of 28x28", output);
        Assert.Contains("Epoch[1] Batch [10/20]  Speed: ", output);
        Assert.Contains("Epoch[2] Time cost=", output);
        Assert.Contains("Epoch[2] Validation-accuracy=", output);
        Assert.Contains("Label=digit", output);
        Assert.Contains("Label=parity", output);

        using var json = JsonDocument.Parse(File.ReadAllText(metrics));
        var epochs = json.RootElement.GetProperty("epochs");
        Assert.Equal(2, epochs.GetArrayLength());
        var first = epochs[0];
        Assert.Equal(1, first.GetProperty("epoch").GetInt32());
        Assert.True(first.GetProperty("seconds").GetDouble() > 0);
        Assert.True(first.GetProperty("samples_per_sec").GetDouble() > 0);
        var train = first.GetProperty("train");
        Assert.InRange(train.GetProperty("pooled_accuracy").GetDouble(), 0, 1);
        Assert.InRange(train.GetProperty("tasks").GetProperty("parity").GetProperty("accuracy").GetDouble(), 0, 1);
        var validation = first.GetProperty("validation");
        Assert.True(validation.GetProperty("loss").GetDouble() > 0);
        var digitConfusion = validation.GetProperty("tasks").GetProperty("digit").GetProperty("confusion");
        Assert.Equal(10, digitConfusion.GetArrayLength());
        Assert.Equal(500, digitConfusion.EnumerateArray().SelectMany(r => r.EnumerateArray()).Sum(v => v.GetInt64()));
        Assert.Equal(2, validation.GetProperty("tasks").GetProperty("parity").GetProperty("confusion").GetArrayLength());
    }

    [Fact]
    public void ConfusionTableSnapshot()
    {
        string table = ConfusionTable.Render(TaskDefinition.Parity, [[4791, 135], [111, 4963]]);
        Assert.Equal(
            "Label=parity  (rows: true label, columns: predicted)\n" +
            "true | even  odd\n" +
            "-----+----------\n" +
            "even | 4791  135\n" +
            "odd  |  111 4963\n", table);
    }

    [Fact]
    public void PipedEpochReportSnapshot()
    {
        var output = new StringWriter { NewLine = "\n" };
        var reporter = new TrainingReporter(output, TaskDefinition.DigitAndParity);
        var digit = new long[10][];
        for (int i = 0; i < 10; i++) { digit[i] = new long[10]; digit[i][i] = 10; }
        digit[3][5] = 2;
        var validation = new MetricsSnapshot(102, 0.25, 0.985,
            [new TaskMetrics("digit", 0.2, 100.0 / 102, digit), new TaskMetrics("parity", 0.05, 1.0, [[50, 0], [0, 52]])]);
        var train = validation with { Loss = 0.5 };
        reporter.OnProgress(new BatchProgress(1, 100, 600, 512345.678, train));
        reporter.OnEpochCompleted(new EpochResult(1, 0.125, 480000, train, validation, 0.1f));
        Assert.Equal("""
            Epoch[1] Batch [100/600]  Speed: 512345.68 samples/sec  Train-accuracy=0.985000  digit=0.9804 parity=1.0000  loss=0.5000
            Epoch[1] Train-accuracy=0.985000  digit=0.9804 parity=1.0000  loss=0.5000
            Epoch[1] Time cost=0.125 s  (480000 samples/sec)
            Epoch[1] Validation-accuracy=0.985000  digit=0.9804 parity=1.0000  loss=0.2500

            Label=digit  (rows: true label, columns: predicted)
            true |  0  1  2  3  4  5  6  7  8  9
            -----+------------------------------
            0    | 10  0  0  0  0  0  0  0  0  0
            1    |  0 10  0  0  0  0  0  0  0  0
            2    |  0  0 10  0  0  0  0  0  0  0
            3    |  0  0  0 10  0  2  0  0  0  0
            4    |  0  0  0  0 10  0  0  0  0  0
            5    |  0  0  0  0  0 10  0  0  0  0
            6    |  0  0  0  0  0  0 10  0  0  0
            7    |  0  0  0  0  0  0  0 10  0  0
            8    |  0  0  0  0  0  0  0  0 10  0
            9    |  0  0  0  0  0  0  0  0  0 10

            Label=parity  (rows: true label, columns: predicted)
            true | even  odd
            -----+----------
            even |   50    0
            odd  |    0   52


            """.Replace("\r\n", "\n"), output.ToString());
    }

    private static (int Code, string Output, string Error) Run(string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}

public sealed class TaskOptionTests
{
    [Fact]
    public void TasksFromTheCommandLineFlowIntoMetricsCheckpointsAndEvaluation()
    {
        string dir = TestData.WriteMnistSubset(2000, 300, gzip: false);
        string model = Path.Combine(dir, "model.safetensors"), metrics = Path.Combine(dir, "metrics.json");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--data", dir, "--epochs", "1", "--task", "gt4", "--task", "mod3", "--save", model, "--metrics", metrics], output, new StringWriter()));
        Assert.Contains("heads digit (10), gt4 (2), mod3 (3)", output.ToString());
        Assert.Contains("Label=mod3", output.ToString());
        using (var json = JsonDocument.Parse(File.ReadAllText(metrics)))
        {
            var tasks = json.RootElement.GetProperty("epochs")[0].GetProperty("validation").GetProperty("tasks");
            Assert.Equal(["digit", "gt4", "mod3"], tasks.EnumerateObject().Select(p => p.Name));
            Assert.Equal(3, tasks.GetProperty("mod3").GetProperty("confusion").GetArrayLength());
        }
        var loaded = DigitParity.Checkpoints.Checkpoint.Load(model);
        Assert.Equal(["digit", "gt4", "mod3"], loaded.Network.Tasks.Select(t => t.Name));
        var evaluation = new StringWriter();
        Assert.Equal(0, Program.Run(["evaluate", "--model", model, "--data", dir], evaluation, new StringWriter()));
        Assert.Contains("Consistency of gt4 with the digit head", evaluation.ToString());
        Assert.Contains("Consistency of mod3 with the digit head", evaluation.ToString());
    }

    [Fact]
    public void AZeroTaskWeightLeavesThatHeadUntrained()
    {
        string dir = TestData.WriteMnistSubset(5000, 500, gzip: false);
        string metrics = Path.Combine(dir, "metrics.json");
        Assert.Equal(0, Program.Run(["train", "--data", dir, "--epochs", "2", "--task-weight", "parity=0", "--metrics", metrics], new StringWriter(), new StringWriter()));
        using var json = JsonDocument.Parse(File.ReadAllText(metrics));
        var tasks = json.RootElement.GetProperty("epochs")[1].GetProperty("validation").GetProperty("tasks");
        Assert.True(tasks.GetProperty("digit").GetProperty("accuracy").GetDouble() > 0.85);
        Assert.True(tasks.GetProperty("parity").GetProperty("accuracy").GetDouble() < 0.75, "a head with weight 0 must not learn");

        var error = new StringWriter();
        Assert.Equal(2, Program.Run(["train", "--task-weight", "loop=2"], new StringWriter(), error));
        Assert.StartsWith("digitparity: error: --task-weight loop: no such head; the heads are digit, parity", error.ToString());
        error = new StringWriter();
        Assert.Equal(2, Program.Run(["train", "--task-weight", "parity=-1"], new StringWriter(), error));
        Assert.Contains("--task-weight parity=-1 is not NAME=W with W a number at least 0", error.ToString());
    }

    [Fact]
    public void AnUnknownTaskIsOneLine()
    {
        var error = new StringWriter();
        Assert.Equal(2, Program.Run(["train", "--task", "colour"], new StringWriter(), error));
        Assert.StartsWith("digitparity: error: --task colour is not a task; expected one of parity, gt4, prime, mod3, loop", error.ToString());
    }
}

public sealed class ClassesOptionTests
{
    [Fact]
    public void AnotherDatasetWithNamedClassesTrainsSavesAndEvaluates()
    {
        // A three-class dataset: MNIST images labelled digit % 3, with names.
        string dir = Directory.CreateTempSubdirectory("digitparity-classes-").FullName;
        void WriteSet(DigitParity.Data.Dataset data, int count, string prefix)
        {
            var subset = data.Take(count);
            File.WriteAllBytes(Path.Combine(dir, $"{prefix}-images-idx3-ubyte"), TestData.ImagesIdx(count, 28, 28, i => subset.Pixels[i]));
            File.WriteAllBytes(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte"), TestData.LabelsIdx(subset.Labels.Select(l => (byte)(l % 3)).ToArray()));
        }
        WriteSet(TestData.Mnist.Train, 3000, "train");
        WriteSet(TestData.Mnist.Test, 300, "t10k");
        string names = Path.Combine(dir, "classes.txt"), model = Path.Combine(dir, "model.safetensors");
        File.WriteAllLines(names, ["low", "mid", "high"]);

        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--data", dir, "--classes", names, "--epochs", "1", "--save", model], output, new StringWriter()));
        Assert.Contains("heads class (3), parity (2)", output.ToString());
        Assert.Contains("Label=class", output.ToString());
        Assert.Contains("high |", output.ToString());

        var loaded = DigitParity.Checkpoints.Checkpoint.Load(model);
        Assert.Equal(["low", "mid", "high"], Enumerable.Range(0, 3).Select(loaded.Network.Tasks[0].ClassName));
        var evaluation = new StringWriter();
        Assert.Equal(0, Program.Run(["evaluate", "--model", model, "--data", dir], evaluation, new StringWriter()));
        Assert.Contains("Consistency of parity with the class head", evaluation.ToString());

        var error = new StringWriter();
        File.WriteAllLines(names, ["only"]);
        Assert.Equal(1, Program.Run(["train", "--data", dir, "--classes", names], new StringWriter(), error));
        Assert.Equal($"digitparity: error: {names}: 1 class names, expected 2-100000, one per line", error.ToString().Trim());
    }
}

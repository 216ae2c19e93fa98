using DigitParity.Checkpoints;
using DigitParity.Cli;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Training;

namespace DigitParity.Tests;

/// <summary>
/// The CNN in models/cnn.safetensors: it records how it was made, and scores on the MNIST test set exactly what its
/// metadata and the README say (99.63 % digit, 99.74 % parity), and it carries its calibration; the commands that take a model use it by default.
/// </summary>
public sealed class ShippedModelTests
{
    [Fact]
    public void TheShippedCnnScoresItsDocumentedTestAccuracyExactly()
    {
        var shipped = Checkpoint.LoadShipped();
        var metadata = shipped.Metadata;
        Assert.Equal("digitparity train --model cnn --augment --epochs 20 --schedule onecycle --lr 0.1 --weight-decay 0.0005 --val-split 0.1 --save models/cnn.safetensors",
            metadata[TrainingRun.CommandKey]);
        Assert.Equal("1", metadata[TrainingRun.SeedKey]);
        Assert.Equal("20", metadata[TrainingRun.EpochKey]);
        Assert.Equal("digit=0.9963,parity=0.9974", metadata[TrainingRun.TestAccuracyKey]);
        Assert.Equal("10000", metadata[TrainingRun.TestSamplesKey]);
        Assert.Equal([32, 64], shipped.Network.Config.Convolutions);
        Assert.All(shipped.Network.Temperatures, t => Assert.NotEqual(1, t));
        Assert.NotNull(shipped.Network.RejectionThreshold);

        using var evaluator = new Evaluator(shipped.Network, threads: 2);
        var test = evaluator.Evaluate(MnistFiles.LoadTest(MnistFiles.EmbeddedDirectory));
        Assert.Equal(10000, test.Samples);
        Assert.Equal(9963, Math.Round(test["digit"].Accuracy * test.Samples));
        Assert.Equal(9974, Math.Round(test["parity"].Accuracy * test.Samples));
    }

    [Fact]
    public void PredictWithoutAModelUsesTheShippedCnnAndSaysSo()
    {
        string image = Path.Combine(TestData.RepositoryRoot, "samples", "QuickStart", "seven.png");
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, Program.Run(["predict", image], output, error));
        Assert.Equal($"No --model given: using the shipped CNN ({Checkpoint.ShippedModelPath})", error.ToString().Trim());
        Assert.Contains("digit 7 (", output.ToString());
        Assert.Contains("parity odd (", output.ToString());
    }
}

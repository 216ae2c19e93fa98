using DigitParity.Data;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Tests;

public sealed class DivergenceTests
{
    [Fact]
    public void ANonFiniteLossStopsTrainingNamingEpochAndBatch()
    {
        var config = ModelConfig.Tutorial;
        var data = new LabeledDataset(TestData.Mnist.Train.Take(6000), config.Tasks);
        var network = new MultiTaskNetwork(config);
        network.Initialize(1);
        using var trainer = new Trainer(network, new TrainingOptions { LearningRate = 1000, Epochs = 3 });
        var error = Assert.Throws<TrainingDivergedException>(() => trainer.Fit(data, data));
        Assert.Equal(1, error.Epoch);
        Assert.InRange(error.Batch, 1, 60);
        Assert.Contains($"epoch 1, batch {error.Batch}", error.Message);
        Assert.Contains("try a smaller --lr", error.Message);
    }

    [Fact]
    public void DivergenceLeavesTheLastGoodCheckpointUntouched()
    {
        string dir = TestData.WriteMnistSubset(3000, 300, gzip: false);
        string checkpoints = Path.Combine(dir, "checkpoints"), last = Path.Combine(checkpoints, "last.safetensors");
        int Run(TextWriter error, params string[] args) => DigitParity.Cli.Program.Run(["train", "--data", dir, .. args], new StringWriter(), error);
        Assert.Equal(0, Run(new StringWriter(), "--epochs", "1", "--checkpoint-dir", checkpoints));
        byte[] good = File.ReadAllBytes(last);

        var error = new StringWriter();
        int code = Run(error, "--epochs", "3", "--resume", last, "--lr", "1000000", "--checkpoint-dir", checkpoints);
        Assert.Equal(1, code);
        string line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(line.StartsWith("digitparity: error: training diverged at epoch 2, batch ", StringComparison.Ordinal), line);
        Assert.Equal(good, File.ReadAllBytes(last));
    }
}

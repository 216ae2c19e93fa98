using DigitParity.Checkpoints;
using DigitParity.Cli;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Metrics;
using DigitParity.Model;
using DigitParity.Training;

namespace DigitParity.Tests;

/// <summary>The CNN end to end: training, determinism, checkpoints in PyTorch's layout, the command line.</summary>
public sealed class CnnTests
{
    private static (MultiTaskNetwork Network, IReadOnlyList<EpochResult> Epochs) Train(int threads, int samples = 6000)
    {
        var network = new MultiTaskNetwork(ModelConfig.Cnn);
        network.Initialize(4);
        using var trainer = new Trainer(network, new TrainingOptions { Epochs = 1, Threads = threads, LearningRate = 0.1f });
        var epochs = trainer.Fit(new LabeledDataset(TestData.Mnist.Train.Take(samples), ModelConfig.Cnn.Tasks),
            new LabeledDataset(TestData.Mnist.Test.Take(500), ModelConfig.Cnn.Tasks));
        return (network, epochs);
    }

    [Fact]
    public void OneShortEpochLearnsAndAnyThreadCountGivesTheSameBits()
    {
        var (one, epochs) = Train(1);
        Assert.True(epochs[0].Validation["digit"].Accuracy > 0.8, $"digit accuracy {epochs[0].Validation["digit"].Accuracy} after 6,000 images");
        var (two, _) = Train(2);
        Assert.Equal(one.Parameters.Values.Span.ToArray(), two.Parameters.Values.Span.ToArray());
    }

    [Fact]
    public void APredictorSeesWeightsThatChangeBetweenCalls()
    {
        // conv2 runs as Winograd with its transformed weights kept between calls: new weights must be transformed anew.
        var images = Enumerable.Range(0, 3).Select(i => TestData.Mnist.Test.Image(i).ToArray()).ToList();
        var network = new MultiTaskNetwork(ModelConfig.Cnn);
        network.Initialize(1);
        Assert.True(network.Convolutions[1].UsesWinograd);
        using var predictor = new Predictor(network, maxBatch: 4);
        float[] before = predictor.Logits(images);
        network.Initialize(2);
        float[] after = predictor.Logits(images);
        var fresh = new MultiTaskNetwork(ModelConfig.Cnn);
        fresh.Initialize(2);
        using var other = new Predictor(fresh, maxBatch: 4);
        Assert.Equal(other.Logits(images), after);
        Assert.NotEqual(before, after);
    }

    [Fact]
    public void CheckpointsKeepTheCnnAndStoreConvolutionsAsPyTorchDoes()
    {
        var (network, _) = Train(2, samples: 500);
        string path = Path.Combine(Directory.CreateTempSubdirectory("digitparity-cnn-").FullName, "cnn.safetensors");
        Checkpoint.Save(path, network);
        var loaded = Checkpoint.Load(path);
        Assert.Equal([32, 64], loaded.Network.Config.Convolutions);
        Assert.Equal(network.Parameters.Values.Span.ToArray(), loaded.Network.Parameters.Values.Span.ToArray());
        var file = IO.SafeTensors.Read(path);
        Assert.Equal([32, 1, 5, 5], file["conv1.weight"].Shape);
        Assert.Equal([64, 32, 5, 5], file["conv2.weight"].Shape);
        // PyTorch's [oc, c, ky, kx] is our [(ky·5 + kx)·C + c, oc].
        var conv2 = network.Convolutions[1];
        float ours = network.Parameters.Value(conv2.Weight)[((3 * 5 + 1) * 32 + 7) * 64 + 9];
        Assert.Equal(ours, file["conv2.weight"].Data[((9 * 32 + 7) * 5 + 3) * 5 + 1]);
        using var a = new Predictor(network);
        using var b = new Predictor(loaded.Network);
        var images = Enumerable.Range(0, 20).Select(i => TestData.Mnist.Test.Image(i).ToArray()).ToList();
        Assert.Equal(a.Predict(images).Select(p => p.Tasks[0].Probabilities), b.Predict(images).Select(p => p.Tasks[0].Probabilities));
    }

    [Fact]
    public void TrainModelCnnFromTheCommandLine()
    {
        string data = TestData.WriteMnistSubset(1000, 200, gzip: false);
        string model = Path.Combine(Directory.CreateTempSubdirectory("digitparity-cnn-cli-").FullName, "cnn.safetensors");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--model", "cnn", "--conv", "8,16", "--hidden", "32", "--augment", "--epochs", "1", "--data", data, "--save", model], output, new StringWriter()));
        Assert.Contains("Model: 28x28 -> conv 5x5 1->8, pool 2 (12x12x8) -> conv 5x5 8->16, pool 2 (4x4x16) -> flatten 256 -> 32 (dropout 0.25) -> heads digit (10), parity (2)", output.ToString());
        Assert.Equal([8, 16], Checkpoint.Load(model).Network.Config.Convolutions);
        var evaluation = new StringWriter();
        Assert.Equal(0, Program.Run(["evaluate", "--model", model, "--data", data], evaluation, new StringWriter()));
        Assert.Contains("Test samples: 200", evaluation.ToString());
    }

    // A batch-norm CNN from the command line: the saved model scores what the run's last evaluation did (its running
    // statistics travel in the file), and every command that takes a model takes it.
    [Fact]
    public void TrainWithBatchNormFromTheCommandLine()
    {
        string data = TestData.WriteMnistSubset(1000, 200, gzip: false);
        string dir = Directory.CreateTempSubdirectory("digitparity-bn-cli-").FullName, model = Path.Combine(dir, "bn.safetensors");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["train", "--model", "cnn", "--conv", "8,16", "--batch-norm", "--epochs", "1", "--data", data, "--save", model], output, new StringWriter()));
        Assert.Contains("conv 5x5 1->8, pool 2, batch norm (12x12x8) -> conv 5x5 8->16, pool 2, batch norm (4x4x16)", output.ToString());
        string last = output.ToString().Split('\n').Last(l => l.Contains("Validation-accuracy"));
        string trained = last[(last.IndexOf("Validation-accuracy=", StringComparison.Ordinal) + 20)..].Split(' ')[0];
        var loaded = Checkpoint.Load(model).Network;
        Assert.True(loaded.Config.BatchNorm);
        Assert.NotEqual(1f, loaded.Parameters.Value(loaded.Norms[0].RunningVariance)[0]);
        var evaluation = new StringWriter();
        Assert.Equal(0, Program.Run(["evaluate", "--model", model, "--data", data], evaluation, new StringWriter()));
        Assert.Contains($"pooled accuracy {trained}", evaluation.ToString());
        Assert.Equal(0, Program.Run(["export", "--model", model, "--onnx", Path.Combine(dir, "bn.onnx")], new StringWriter(), new StringWriter()));
        Assert.True(new FileInfo(Path.Combine(dir, "bn.onnx")).Length > 0);
    }

    // A file whose running variance is negative would answer NaN: it is refused, naming the tensor.
    [Fact]
    public void ANegativeRunningVarianceIsRefused()
    {
        var network = new MultiTaskNetwork(ModelConfig.Cnn with { Convolutions = [8, 16], BatchNorm = true });
        network.Initialize(1);
        network.Parameters.Value(network.Norms[1].RunningVariance)[3] = -0.5f;
        string path = Path.Combine(Directory.CreateTempSubdirectory("digitparity-bn-var-").FullName, "bad.safetensors");
        Checkpoint.Save(path, network);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path));
        Assert.Equal($"{path}: tensor bn2.running_var holds -0.5 at index 3, expected variances of 0 or more", e.Message);
    }

    [Theory]
    [InlineData("--conv 8,16", "--conv needs --model cnn")]
    [InlineData("--batch-norm", "--batch-norm needs --model cnn")]
    [InlineData("--model cnn --conv 8,x", "--conv 8,x is not a comma-separated list of sizes")]
    [InlineData("--hidden 0", "--hidden 0 is not a comma-separated list of sizes")]
    [InlineData("--model rnn", "rnn")]
    public void BadModelOptionsGiveOneLine(string args, string expected)
    {
        var error = new StringWriter();
        Assert.Equal(2, Program.Run(["train", .. args.Split(' ')], new StringWriter(), error));
        Assert.Contains(expected, Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}

using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Export;
using DigitParity.Model;
using DigitParity.Training;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace DigitParity.Tests;

public sealed class OnnxExportTests
{
    [Theory]
    [InlineData("mlp", 1000, 1e-5)]
    [InlineData("cnn", 200, 1e-4)]
    [InlineData("cnn-bn", 200, 1e-4)]
    public void OnnxRuntimeReproducesOurEngineOnTestImages(string model, int n, double tolerance)
    {
        var config = model == "cnn" ? ModelConfig.Cnn : model == "cnn-bn" ? ModelConfig.Cnn with { BatchNorm = true } : ModelConfig.Tutorial;
        var network = new MultiTaskNetwork(config);
        network.Initialize(5);
        using (var trainer = new Trainer(network, new TrainingOptions { Epochs = 1 }))
            trainer.Fit(new LabeledDataset(TestData.Mnist.Train.Take(5000), config.Tasks), new LabeledDataset(TestData.Mnist.Test.Take(100), config.Tasks));
        string path = Path.Combine(Directory.CreateTempSubdirectory("digitparity-onnx-").FullName, "model.onnx");
        OnnxExport.Write(path, network);

        var data = new LabeledDataset(TestData.Mnist.Test.Take(n), config.Tasks);
        int[] indices = Enumerable.Range(0, n).ToArray();
        var ws = network.CreateWorkspace(n, training: false);
        data.GatherPixels(indices, ws.Input);
        using (var pool = new WorkerPool(1)) pool.Run(new ForwardPass(network, ws, pool, n));
        float[] ours = ws.Logits.Span[..(n * config.HeadWidth)].ToArray();

        using var session = new InferenceSession(path);
        var input = new DenseTensor<float>(ws.Input.Span[..(n * 784)].ToArray(), [n, 784]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("pixels", input)]);
        var outputs = results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
        Assert.Equal(["digit_logits", "digit_probabilities", "parity_logits", "parity_probabilities"], outputs.Keys.Order());

        foreach (var (task, offset, classes) in new[] { ("digit", 0, 10), ("parity", 10, 2) })
        {
            float[] logits = outputs[$"{task}_logits"], probabilities = outputs[$"{task}_probabilities"];
            for (int b = 0; b < n; b++)
            {
                var row = Enumerable.Range(0, classes).Select(c => (double)ours[b * 12 + offset + c]).ToArray();
                double max = row.Max(), sum = row.Sum(v => Math.Exp(v - max));
                for (int c = 0; c < classes; c++)
                {
                    Assert.True(Math.Abs(row[c] - logits[b * classes + c]) <= tolerance, $"{task} logit [{b},{c}]: ours {row[c]}, onnx {logits[b * classes + c]}");
                    Assert.True(Math.Abs(Math.Exp(row[c] - max) / sum - probabilities[b * classes + c]) <= tolerance, $"{task} probability [{b},{c}]");
                }
            }
        }
    }

    [Fact]
    public void ExportCommandWritesAModelOnnxRuntimeLoads()
    {
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(1);
        string dir = Directory.CreateTempSubdirectory("digitparity-onnx-").FullName;
        string model = Path.Combine(dir, "model.safetensors"), onnx = Path.Combine(dir, "model.onnx");
        Checkpoint.Save(model, network);
        var output = new StringWriter();
        Assert.Equal(0, DigitParity.Cli.Program.Run(["export", "--model", model, "--onnx", onnx], output, new StringWriter()));
        Assert.Contains("digit_probabilities", output.ToString());
        using var session = new InferenceSession(onnx);
        Assert.Equal(["pixels"], session.InputMetadata.Keys);
        Assert.Equal(new[] { -1, 784 }, session.InputMetadata["pixels"].Dimensions);
    }

    private sealed class ForwardPass(MultiTaskNetwork network, Workspace ws, WorkerPool pool, int batch) : IParallelWork
    {
        public void Execute(int worker)
        {
            network.IndexInput(ws, batch, 0, batch);
            network.Forward(ws, batch, pool, worker);
        }
    }
}

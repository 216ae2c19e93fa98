using DigitParity.Data;
using DigitParity.Export;
using DigitParity.Model;
using DigitParity.Training;
using Microsoft.ML.OnnxRuntime;

namespace DigitParity.Benchmarks;

/// <summary>
/// ONNX Runtime at its best on one of our exported models: all graph optimizations, intra-op threads as given, and the
/// input and every output bound once to preallocated buffers, so that a run allocates nothing and copies nothing.
/// </summary>
public sealed class OrtPeer : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames = ["pixels"], _outputNames;
    private readonly OrtValue[] _inputs, _outputs;

    /// <param name="network">The model, exported to a temporary ONNX file.</param>
    /// <param name="pixels">The batch's bytes, image after image (784 each); the peer is given them as floats / 255.</param>
    /// <param name="threads">ORT's intra-op threads.</param>
    public OrtPeer(MultiTaskNetwork network, byte[] pixels, int threads)
    {
        string onnx = Path.Combine(Directory.CreateTempSubdirectory("digitparity-ort-").FullName, "model.onnx");
        OnnxExport.Write(onnx, network);
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(onnx, options);
        int batch = pixels.Length / 784;
        _inputs = [OrtValue.CreateTensorValueFromMemory(pixels.Select(p => p / 255f).ToArray(), [batch, 784])];
        _outputNames = _session.OutputNames.ToArray();
        _outputs = _outputNames.Select(name =>
        {
            long width = _session.OutputMetadata[name].Dimensions[1];
            return OrtValue.CreateTensorValueFromMemory(new float[batch * width], [batch, width]);
        }).ToArray();
    }

    /// <summary>One forward pass of the bound batch.</summary>
    public void Run() => _session.Run(_runOptions, _inputNames, _inputs, _outputNames, _outputs);

    /// <summary>The tutorial recipe's MLP after its 3 epochs (seed 1), as the default <c>train</c> makes it: with trained
    /// heads, the joint decision runs as rarely as it does in use.</summary>
    public static MultiTaskNetwork TutorialMlp(DataSplits data)
    {
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(1);
        using var trainer = new Trainer(network, new TrainingOptions());
        trainer.Fit(new LabeledDataset(data.Train, network.Tasks), new LabeledDataset(data.Test.Take(100), network.Tasks));
        return network;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var value in _inputs.Concat(_outputs)) value.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}

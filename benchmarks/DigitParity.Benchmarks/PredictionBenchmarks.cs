using BenchmarkDotNet.Attributes;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Export;
using DigitParity.Inference;
using DigitParity.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace DigitParity.Benchmarks;

/// <summary>
/// A batch of real MNIST test images through our <see cref="Predictor"/> (span API and objects) and through ONNX
/// Runtime on the same exported model, per model, batch size and thread count. Divide by Batch for a time per image.
/// <c>dotnet run -c Release --project benchmarks/DigitParity.Benchmarks -- --filter '*PredictionBenchmarks*'</c>
/// </summary>
[MemoryDiagnoser]
public class PredictionBenchmarks
{
    private Predictor _predictor = null!;
    private InferenceSession _session = null!;
    private NamedOnnxValue[] _inputs = [];
    private byte[][] _images = [];
    private byte[] _pixels = [];
    private int[] _answers = [];
    private float[] _probabilities = [];
    private bool[] _rejected = [];

    [Params("MLP", "CNN")]
    public string Model { get; set; } = "MLP";

    [Params(1, 16, 256, 1000)]
    public int Batch { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var test = MnistFiles.LoadTest(MnistFiles.EmbeddedDirectory);
        MultiTaskNetwork network;
        if (Model == "MLP")
        {
            network = new MultiTaskNetwork(ModelConfig.Tutorial);
            network.Initialize(1);
        }
        else network = Checkpoint.LoadShipped().Network;
        _images = Enumerable.Range(0, Batch).Select(i => test.Image(i).ToArray()).ToArray();
        _pixels = _images.SelectMany(image => image).ToArray();
        _answers = new int[Batch * network.Tasks.Count];
        _probabilities = new float[Batch * network.Config.HeadWidth];
        _rejected = new bool[Batch];
        _predictor = new Predictor(network, Batch, Threads);
        string onnx = Path.Combine(Directory.CreateTempSubdirectory("digitparity-bench-").FullName, "model.onnx");
        OnnxExport.Write(onnx, network);
        var options = new SessionOptions { IntraOpNumThreads = Threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(onnx, options);
        var input = new DenseTensor<float>(_pixels.Select(p => p / 255f).ToArray(), [Batch, 784]);
        _inputs = [NamedOnnxValue.CreateFromTensor("pixels", input)];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _predictor.Dispose();
        _session.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Spans() => _predictor.Predict(_pixels, _answers, _probabilities, _rejected);

    [Benchmark]
    public IReadOnlyList<Prediction> Objects() => _predictor.Predict(_images);

    [Benchmark]
    public void OnnxRuntime() => _session.Run(_inputs).Dispose();
}

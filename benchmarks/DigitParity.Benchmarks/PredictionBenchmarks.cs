using BenchmarkDotNet.Attributes;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;

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
    private OrtPeer _peer = null!;
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
        var data = MnistFiles.Load(MnistFiles.EmbeddedDirectory);
        var test = data.Test;
        var network = Model == "MLP" ? OrtPeer.TutorialMlp(data) : Checkpoint.LoadShipped().Network;
        _images = Enumerable.Range(0, Batch).Select(i => test.Image(i).ToArray()).ToArray();
        _pixels = _images.SelectMany(image => image).ToArray();
        _answers = new int[Batch * network.Tasks.Count];
        _probabilities = new float[Batch * network.Config.HeadWidth];
        _rejected = new bool[Batch];
        _predictor = new Predictor(network, Batch, Threads);
        _peer = new OrtPeer(network, _pixels, Threads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _predictor.Dispose();
        _peer.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Spans() => _predictor.Predict(_pixels, _answers, _probabilities, _rejected);

    [Benchmark]
    public IReadOnlyList<Prediction> Objects() => _predictor.Predict(_images);

    [Benchmark]
    public void OnnxRuntime() => _peer.Run();
}

using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Model;

namespace DigitParity.Benchmarks;

/// <summary>
/// One model answering batches of the first test images, alone in the process: <c>Predictor.Predict</c> into spans in
/// a loop for the given seconds, after a warm-up; prints µs an image. The model is the shipped CNN (<c>cnn</c>) or the
/// tutorial recipe's MLP (<c>mlp</c>, 3 epochs, seed 1, as profile-inference trains it). profile-inference interleaves
/// ONNX Runtime between our rounds, which takes the caches; this shows the cost without it, and gives perf one loop.
/// </summary>
internal static class PredictionLoop
{
    public static void Run(string model, int batch, int threads, double seconds)
    {
        var data = MnistFiles.Load(MnistFiles.EmbeddedDirectory);
        MultiTaskNetwork network = model switch
        {
            "cnn" => Checkpoint.LoadShipped().Network,
            "mlp" => OrtPeer.TutorialMlp(data),
            _ => throw new ArgumentException($"model '{model}': expected cnn or mlp."),
        };
        byte[] pixels = Enumerable.Range(0, batch).SelectMany(i => data.Test.Image(i).ToArray()).ToArray();
        using var predictor = new Predictor(network, maxBatch: batch, threads: threads);
        var answers = new int[batch * network.Tasks.Count];
        var probabilities = new float[batch * network.Config.HeadWidth];
        var rejected = new bool[batch];
        int round = Math.Max(1, 1000 / batch);
        var warm = System.Diagnostics.Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 0.5) predictor.Predict(pixels, answers, probabilities, rejected);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long calls = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < round; i++) predictor.Predict(pixels, answers, probabilities, rejected);
            calls += round;
        }
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{model}, batch {batch}, {threads} thread(s): {clock.Elapsed.TotalMilliseconds * 1000 / (calls * batch):0.00} µs an image ({calls:N0} calls)"));
    }
}

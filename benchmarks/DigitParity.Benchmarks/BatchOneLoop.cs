using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;

namespace DigitParity.Benchmarks;

/// <summary>
/// The shipped CNN answering one image at a time, alone in the process: <c>Predictor.Predict</c> of the first test image
/// in a loop for the given seconds, after 2,000 calls to warm up; prints µs an image. (profile-inference interleaves
/// ONNX Runtime between our rounds, which takes the caches; this shows the cost without it.)
/// </summary>
internal static class BatchOneLoop
{
    public static void Run(int threads, double seconds)
    {
        var network = Checkpoint.LoadShipped().Network;
        byte[] image = MnistFiles.Load(MnistFiles.EmbeddedDirectory).Test.Image(0).ToArray();
        using var predictor = new Predictor(network, maxBatch: 1, threads: threads);
        var answers = new int[network.Tasks.Count];
        for (int i = 0; i < 2000; i++) predictor.Predict(image, answers);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long calls = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < 1000; i++) predictor.Predict(image, answers);
            calls += 1000;
        }
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"shipped CNN, batch 1, {threads} thread(s): {clock.Elapsed.TotalMilliseconds * 1000 / calls:0.0} µs an image ({calls:N0} calls)"));
    }
}

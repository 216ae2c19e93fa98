using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Metrics;

namespace DigitParity.Tests;

/// <summary>The rejection scores' AUROC against hand-worked cases, and the generated non-digit sets.</summary>
public sealed class RejectionTests
{
    [Fact]
    public void AurocCountsThePairsAnInsideScoreWins()
    {
        // Pairs (inside, outside): 3>1, 3>2, 2>1 win, 2=2 half, 1=1 half, 1<2 loses: (3 + 0.5 + 0.5) / 6 ... by hand:
        // inside {3, 2, 1}, outside {1, 2}: 3 beats both (2), 2 beats 1 and ties 2 (1.5), 1 ties 1 (0.5): 4 of 6.
        Assert.Equal(4.0 / 6, Rejection.Auroc([3, 2, 1], [1, 2]), 12);
        Assert.Equal(1.0, Rejection.Auroc([5, 6], [1, 2, 3]), 12);
        Assert.Equal(0.0, Rejection.Auroc([1], [2]), 12);
        Assert.Equal(0.5, Rejection.Auroc([1, 1], [1, 1, 1]), 12);
    }

    [Fact]
    public void TheGeneratedSetsAreSeededPreparedImages()
    {
        var test = TestData.Mnist.Test;
        foreach (string set in OutOfDistribution.Sets)
        {
            var images = OutOfDistribution.Generate(set, 20, 3, test);
            Assert.All(images, image => Assert.Equal(784, image.Length));
            Assert.Equal(images, OutOfDistribution.Generate(set, 20, 3, test)); // same seed, same bits
            Assert.NotEqual(images, OutOfDistribution.Generate(set, 20, 4, test));
        }
        // A shuffled image keeps its pixels, in another order.
        var shuffled = OutOfDistribution.Generate("shuffled", 50, 5, test);
        var histograms = Enumerable.Range(0, test.Count).Select(i => Convert.ToBase64String(test.Image(i).ToArray().Order().ToArray())).ToHashSet();
        Assert.All(shuffled, s => Assert.Contains(Convert.ToBase64String(s.Order().ToArray()), histograms));
    }

    [Fact]
    public void EvaluateReportsTheAurocOfEveryScoreOnEverySet()
    {
        var output = new StringWriter();
        Assert.Equal(0, Cli.Program.Run(["evaluate", "--ood"], output, new StringWriter()));
        string text = output.ToString();
        Assert.Contains("Not a digit: AUROC of each score", text);
        foreach (string set in OutOfDistribution.Sets)
        {
            var row = text.Split('\n').Single(l => l.TrimStart().StartsWith(set + " ", StringComparison.Ordinal));
            var cells = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = cells[1..(1 + Rejection.Scores.Count)].Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.All(values, v => Assert.InRange(v, 0.9, 1.0)); // the shipped CNN tells every set apart from digits
            // It has a threshold: the share of the set it rejects ends the row.
            Assert.Equal(["%"], cells[(2 + Rejection.Scores.Count)..]);
            Assert.InRange(double.Parse(cells[1 + Rejection.Scores.Count], System.Globalization.CultureInfo.InvariantCulture), 30, 100);
        }
    }

    [Fact]
    public void AThresholdChosenOnHeldOutImagesKeeps99PercentAndPredictionsSayNotADigit()
    {
        // One epoch of the tutorial MLP on the embedded MNIST, 10 % held out.
        string dir = Path.Combine(TestData.RepositoryRoot, "data", "mnist");
        string model = Path.Combine(Directory.CreateTempSubdirectory("digitparity-rejection-").FullName, "model.safetensors");
        var output = new StringWriter();
        Assert.Equal(0, Cli.Program.Run(["train", "--epochs", "1", "--val-split", "0.1", "--save", model], output, new StringWriter()));
        Assert.Contains("not a digit below an energy score of", output.ToString());
        var network = Checkpoint.Load(model).Network;
        double threshold = Assert.NotNull(network.RejectionThreshold);

        // Oracle: the same held-out part (the split is seeded), scored again; 1 % of it lies below the threshold.
        var (_, heldOut) = TestData.Mnist.Train.Split(0.1, 1);
        using var predictor = new Predictor(network);
        var answers = predictor.Predict(Enumerable.Range(0, heldOut.Count).Select(i => heldOut.Image(i).ToArray()).ToArray());
        int below = answers.Count(a => a.Rejected), expected = (int)Math.Floor(0.01 * heldOut.Count);
        Assert.InRange(below, expected - 1, expected + 1);
        Assert.All(answers, a => Assert.Equal(a.Score < threshold, a.Rejected));

        // Uniform noise is mostly not a digit, and predict and the JSON say so.
        var noise = OutOfDistribution.Generate("noise", 200, 1, heldOut);
        var noiseAnswers = predictor.Predict(noise);
        Assert.True(noiseAnswers.Count(a => a.Rejected) > 100, $"{noiseAnswers.Count(a => a.Rejected)} of 200 noise images rejected");
        var rejected = noiseAnswers.First(a => a.Rejected);
        Assert.Contains("not a digit (score ", Cli.PredictCommand.Text("noise.png", rejected));
        var json = PredictionJson.ToJson(rejected);
        Assert.True(json["rejected"]!.GetValue<bool>());
        Assert.Equal(rejected.Score, json["score"]!.GetValue<double>());

        // evaluate reports the share of test digits rejected.
        var evaluation = new StringWriter();
        Assert.Equal(0, Cli.Program.Run(["evaluate", "--model", model, "--data", dir], evaluation, new StringWriter()));
        Assert.Matches(@"Not a digit below an energy score of [0-9.-]+ \(kept 99 % of the held-out images\): [0-9.]+ % of the test digits rejected", evaluation.ToString());
    }
}

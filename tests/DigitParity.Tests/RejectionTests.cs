using DigitParity.Data;
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
            var values = row.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(Rejection.Scores.Count, values.Length);
            Assert.All(values, v => Assert.InRange(v, 0.9, 1.0)); // the shipped CNN tells every set apart from digits
        }
    }
}

using DigitParity.Metrics;
using DigitParity.Tasks;

namespace DigitParity.Tests;

public sealed class MetricsTests
{
    [Fact]
    public void ConfusionMatrixCountsRowsAsTruthAndColumnsAsPredictions()
    {
        var cm = new ConfusionMatrix(3);
        cm.Add([0, 1, 1, 2, 2], [0, 1, 2, 2, 0]);
        Assert.Equal(1, cm[0, 0]);
        Assert.Equal(1, cm[1, 2]);
        Assert.Equal(1, cm[2, 0]);
        Assert.Equal(0, cm[0, 2]);
        Assert.Equal(3, cm.Correct);
        Assert.Equal(0.6, cm.Accuracy, 12);
        Assert.Equal(new long[][] { [1, 0, 0], [0, 1, 1], [1, 0, 1] }, cm.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => cm.Add(3, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => cm.Add(0, -1));
    }

    [Fact]
    public void PooledAccuracyCountsBothTasksAndResetClearsEverything()
    {
        var metric = new MultiTaskMetric(TaskDefinition.DigitAndParity);
        // 4 samples: digits right 3/4, parity right 2/4 → pooled 5/8.
        metric.Update(4, [[3, 4, 7, 8], [1, 0, 1, 0]], [[3, 4, 7, 1], [1, 1, 0, 0]], [2.0, 1.0]);
        var first = metric.Compute();
        Assert.Equal(0.75, first["digit"].Accuracy, 12);
        Assert.Equal(0.5, first["parity"].Accuracy, 12);
        Assert.Equal(5.0 / 8, first.PooledAccuracy, 12);
        Assert.Equal(0.75, first.Loss, 12); // (2 + 1) / 4
        Assert.Equal(0.5, first["digit"].Loss, 12);
        Assert.Equal(1, first["digit"].Confusion[8][1]);

        // The tutorial's metric kept its accuracy counters across reset; ours must not.
        metric.Reset();
        metric.Update(2, [[0, 1], [0, 1]], [[0, 1], [0, 1]], [0.0, 0.0]);
        var second = metric.Compute();
        Assert.Equal(2, second.Samples);
        Assert.Equal(1.0, second.PooledAccuracy);
        Assert.Equal(0, second["digit"].Confusion[8][1]);
        Assert.Equal(2, second["digit"].Confusion.Sum(r => r.Sum()));
    }
}

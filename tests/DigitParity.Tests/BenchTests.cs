using DigitParity.Cli;
using DigitParity.Model;
using DigitParity.Performance;

namespace DigitParity.Tests;

public sealed class BenchTests
{
    [Fact]
    public void TutorialNetworkCosts455168FlopsPerTrainingSample()
    {
        // Forward 784·128 + 128·64 + 64·12 = 109,312 MACs; the same again for the weight gradients;
        // input gradients for fc2 and the heads only: 8,192 + 768 = 8,960 MACs. 2 FLOPs per MAC.
        Assert.Equal(455_168, Bench.FlopsPerSample(new MultiTaskNetwork(ModelConfig.Tutorial)));
    }

    [Fact]
    public void FmaPeakIsPositive()
    {
        Assert.True(DigitParity.Engine.FmaPeak.SingleThread(TimeSpan.FromMilliseconds(20)) > 0.1);
    }

    [Fact]
    public void ReportRendersEveryFigure()
    {
        var report = new BenchReport("Test CPU", 2, 160, 300, 455_168,
            [new KernelFigure("fc1.forward", 100, 100, 128, 784, 120, 0.75)],
            [new TrainingFigure(100, 2, 400_000, 182.1, 0.607)], 1_000_000, 0, 100 << 20,
            [new PredictionFigure("shipped CNN", 1, 2, 12_500, 0), new PredictionFigure("tutorial MLP", 256, 1, 400_000, 0)]);
        string text = BenchCommand.Render(report);
        Assert.Equal("""
            Machine: 2 logical cores (Test CPU)
            FMA peak: 160.0 GFLOP/s on one thread, 300.0 GFLOP/s on all 2
            Training FLOPs per sample: 455,168

            Kernels (one thread, dense)        batch      M      N      K   GFLOP/s  of peak
              fc1.forward                        100    100    128    784     120.0    75 %

            Training (median of epochs after the first)
              batch  threads   samples/sec   GFLOP/s  of peak
                100        2       400,000     182.1    61 %

            Evaluation: 1,000,000 samples/sec
            Allocated per training step: 0 bytes
            Peak working set: 100.0 MiB

            Prediction (into spans, median of 5)
              model          batch  threads    images/sec   µs/image  bytes/batch
              shipped CNN        1        2        12,500       80.0            0
              tutorial MLP     256        1       400,000        2.5            0

            """.Replace("\r\n", "\n"), text);
    }

    [Fact]
    public void BenchRejectsTooFewEpochs()
    {
        var error = new StringWriter();
        int code = Program.Run(["bench", "--epochs", "1"], new StringWriter(), error);
        Assert.Equal(2, code);
        Assert.Contains("--epochs must be at least 2 (got 1)", error.ToString());
    }
}

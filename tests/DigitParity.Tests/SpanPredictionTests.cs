using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Model;

namespace DigitParity.Tests;

/// <summary>The span API of <see cref="Predictor"/> against its <see cref="Prediction"/> objects.</summary>
public sealed class SpanPredictionTests
{
    // Real digits and things that are not digits (the shipped model rejects most of the latter), more than one batch.
    private static byte[][] Images()
    {
        var test = TestData.Mnist.Test;
        return Enumerable.Range(0, 300).Select(i => test.Image(i).ToArray())
            .Concat(OutOfDistribution.Generate("noise", 40, 1, test)).Concat(OutOfDistribution.Generate("strokes", 40, 2, test))
            .ToArray();
    }

    [Theory]
    [InlineData(1, 256)]
    [InlineData(2, 256)]
    [InlineData(2, 7)]
    public void SpansHoldTheAnswersProbabilitiesAndRejectionsOfThePredictions(int threads, int maxBatch)
    {
        // The shipped CNN rejects some images; an initialized MLP's heads contradict each other on many.
        var shipped = Checkpoint.LoadShipped().Network;
        var initialized = new MultiTaskNetwork(ModelConfig.Tutorial);
        initialized.Initialize(3);
        var images = Images();
        var (rejections, contradictions) = (Check(shipped, images, threads, maxBatch), Check(initialized, images, threads, maxBatch));
        Assert.True(rejections.Rejected > 20, $"{rejections.Rejected} rejected");
        Assert.True(contradictions.Contradicted > 20, $"{contradictions.Contradicted} contradictions");
    }

    // Compares the spans with the Predictions; returns how many images were rejected and how many had heads that disagree.
    private static (int Rejected, int Contradicted) Check(MultiTaskNetwork network, byte[][] images, int threads, int maxBatch)
    {
        using var predictor = new Predictor(network, maxBatch, threads);
        var expected = predictor.Predict(images);
        int heads = network.Tasks.Count, width = network.Config.HeadWidth;
        var answers = new int[images.Length * heads];
        var probabilities = new float[images.Length * width];
        var rejected = new bool[images.Length];
        predictor.Predict(images.SelectMany(i => i).ToArray(), answers, probabilities, rejected);

        for (int i = 0; i < images.Length; i++)
        {
            Assert.Equal(expected[i].Rejected, rejected[i]);
            for (int t = 0, offset = 0; t < heads; offset += network.Tasks[t].ClassCount, t++)
            {
                var task = expected[i].Tasks[t];
                Assert.Equal(task.Answer, answers[i * heads + t]);
                for (int c = 0; c < task.Probabilities.Length; c++) Assert.Equal((float)task.Probabilities[c], probabilities[i * width + offset + c]);
            }
        }
        return (rejected.Count(r => r), expected.Count(p => !p.HeadsAgree));
    }

    // A batch too small to give each of two workers its own images splits every image between them (conv1's pooled
    // rows, conv2's channels, fc1's panels): the logits are one worker's, bit for bit, and the batch sizes around the
    // switch agree too. The shipped CNN and a narrower one, whose conv2 channels split 16 and 16.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ImagesSplitBetweenWorkersGiveOneWorkersBits(bool narrow)
    {
        var network = Checkpoint.LoadShipped().Network;
        if (narrow)
        {
            network = new MultiTaskNetwork(ModelConfig.Cnn with { Convolutions = [32, 32], Hidden = [200] });
            network.Initialize(4);
        }
        Assert.True(network.SplitsImages(1, 2));
        Assert.True(network.SplitsImages(5, 2));
        Assert.False(network.SplitsImages(6, 2));
        var images = Images().Skip(100).Take(12).ToList();
        using var one = new Predictor(network, maxBatch: 8, threads: 1);
        using var two = new Predictor(network, maxBatch: 8, threads: 2);
        foreach (int batch in new[] { 1, 2, 5, 6 })
        {
            var part = images.Take(batch).ToList();
            Assert.Equal(one.Logits(part), two.Logits(part));
        }
    }

    [Fact]
    public void AnswersAloneAllocateNothing()
    {
        var network = Checkpoint.LoadShipped().Network;
        var pixels = Images().Take(64).SelectMany(i => i).ToArray();
        using var predictor = new Predictor(network, maxBatch: 32, threads: 2);
        var answers = new int[64 * network.Tasks.Count];
        var probabilities = new float[64 * network.Config.HeadWidth];
        var rejected = new bool[64];
        predictor.Predict(pixels, answers, probabilities, rejected);
        // Three rounds of ten: a round may meet a path of the runtime's for the first time (a wait that outlasts its
        // spin on a busy machine, with what that initializes once), but a prediction that allocates shows in every round.
        var rounds = new long[3];
        for (int round = 0; round < rounds.Length; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int r = 0; r < 10; r++) predictor.Predict(pixels, answers, probabilities, rejected);
            rounds[round] = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Assert.True(rounds.Contains(0), $"bytes allocated by each round of ten predictions: {string.Join(", ", rounds)}");
    }

    [Fact]
    public void ShortSpansAndPartialImagesAreRefused()
    {
        var network = TestData.Trained.Value;
        using var predictor = new Predictor(network);
        var two = new byte[2 * 784];
        var e = Assert.Throws<ArgumentException>(() => predictor.Predict(new byte[785], new int[4]));
        Assert.Equal("785 bytes are not a whole number of images of 784 pixels. (Parameter 'images')", e.Message);
        e = Assert.Throws<ArgumentException>(() => predictor.Predict(two, new int[3]));
        Assert.Equal("answers holds 3 values; 2 images need 4. (Parameter 'answers')", e.Message);
        e = Assert.Throws<ArgumentException>(() => predictor.Predict(two, new int[4], new float[23]));
        Assert.Equal("probabilities holds 23 values; 2 images need 24. (Parameter 'probabilities')", e.Message);
        e = Assert.Throws<ArgumentException>(() => predictor.Predict(two, new int[4], default, new bool[1]));
        Assert.Equal("rejected holds 1 values; 2 images need 2. (Parameter 'rejected')", e.Message);
        e = Assert.Throws<ArgumentException>(() => predictor.Predict([new byte[784], new byte[12]]));
        Assert.Equal("Image 1 has 12 pixels; the model expects 784. (Parameter 'images')", e.Message);
    }
}

using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Export;
using DigitParity.Inference;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace DigitParity.Tests;

/// <summary>Our exported ONNX model applied in an ML.NET pipeline (ApplyOnnxModel): every head's probabilities equal our engine's.</summary>
public sealed class MlNetTests
{
    /// <summary>One image as the exported model takes it: 784 values, pixel / 255.</summary>
    public sealed class DigitInput
    {
        [ColumnName("pixels"), VectorType(784)]
        public float[] Pixels { get; set; } = [];
    }

    /// <summary>The model's two probability outputs.</summary>
    public sealed class DigitOutput
    {
        [ColumnName("digit_probabilities"), VectorType(10)]
        public float[] Digit { get; set; } = [];

        [ColumnName("parity_probabilities"), VectorType(2)]
        public float[] Parity { get; set; } = [];
    }

    [Fact]
    public void AnMlNetPipelineWithOurOnnxModelGivesOurProbabilities()
    {
        var network = Checkpoint.LoadShipped().Network;
        string onnx = Path.Combine(Directory.CreateTempSubdirectory("digitparity-mlnet-").FullName, "cnn.onnx");
        OnnxExport.Write(onnx, network);
        var test = TestData.Mnist.Test;
        const int Count = 500;
        var images = Enumerable.Range(0, Count).Select(i => test.Image(i).ToArray()).ToArray();

        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(images.Select(image => new DigitInput { Pixels = image.Select(p => p / 255f).ToArray() }));
        var pipeline = ml.Transforms.ApplyOnnxModel(["digit_probabilities", "parity_probabilities"], ["pixels"], onnx,
            shapeDictionary: new Dictionary<string, int[]> { ["pixels"] = [1, 784] }, gpuDeviceId: null, fallbackToCpu: false);
        var answers = ml.Data.CreateEnumerable<DigitOutput>(pipeline.Fit(data).Transform(data), reuseRowObject: false).ToArray();

        using var predictor = new Predictor(network);
        var ours = predictor.Predict(images);
        Assert.Equal(Count, answers.Length);
        for (int i = 0; i < Count; i++)
        {
            foreach (var (task, theirs) in new[] { ("digit", answers[i].Digit), ("parity", answers[i].Parity) })
            {
                var expected = ours[i][task].Probabilities;
                Assert.Equal(expected.Length, theirs.Length);
                for (int c = 0; c < theirs.Length; c++) Assert.True(Math.Abs(expected[c] - theirs[c]) <= 1e-5, $"image {i} {task}[{c}]: ours {expected[c]}, ML.NET {theirs[c]}");
            }
        }
    }
}

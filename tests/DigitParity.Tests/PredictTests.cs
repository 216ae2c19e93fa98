using System.Buffers.Binary;
using DigitParity.Checkpoints;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Model;
using SkiaSharp;

namespace DigitParity.Tests;

public sealed class PredictTests
{
    private static Lazy<MultiTaskNetwork> Trained => TestData.Trained;

    // Writes a gray image (0 = black) as PNG, with `map` turning MNIST bytes into what is drawn.
    private static string Png(string dir, string name, int width, int height, Func<int, int, byte> pixel)
    {
        using var bitmap = new SKBitmap(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) { byte v = pixel(x, y); bitmap.SetPixel(x, y, new SKColor(v, v, v)); }
        string path = Path.Combine(dir, name);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void MnistImagesWrittenAsFilesPredictAsTheyDoInMemory()
    {
        const int n = 200;
        string dir = Directory.CreateTempSubdirectory("digitparity-png-").FullName;
        var test = TestData.Mnist.Test;
        using var predictor = new Predictor(Trained.Value);
        var inMemory = predictor.Predict(Enumerable.Range(0, n).Select(i => test.Image(i).ToArray()).ToList());
        var variants = new (string Name, int Width, int Height, Func<byte[], Func<int, int, byte>> Draw)[]
        {
            ("plain", 28, 28, img => (x, y) => img[y * 28 + x]),
            ("inverted", 28, 28, img => (x, y) => (byte)(255 - img[y * 28 + x])),
            ("rescaled", 84, 84, img => (x, y) => (byte)(255 - img[(y / 3) * 28 + x / 3])),
            ("padded", 70, 50, img => (x, y) => x >= 30 && x < 58 && y >= 5 && y < 33 ? img[(y - 5) * 28 + x - 30] : (byte)0),
        };
        foreach (var variant in variants)
        {
            var files = Enumerable.Range(0, n).Select(i => Png(dir, $"{variant.Name}-{i}.png", variant.Width, variant.Height, variant.Draw(test.Image(i).ToArray())));
            var fromFiles = predictor.Predict(files.Select(DigitImage.Load).ToList());
            int same = Enumerable.Range(0, n).Count(i => fromFiles[i].Tasks[0].Label == inMemory[i].Tasks[0].Label);
            // The plain copy must agree everywhere; resampled copies may flip a borderline digit now and then.
            Assert.True(same >= (variant.Name == "plain" ? n : n * 0.99), $"{variant.Name}: {same} of {n} digit predictions as in memory");
        }
    }

    [Fact]
    public void ColourJpegScansPredictAsTheMnistImages()
    {
        const int n = 50;
        string dir = Directory.CreateTempSubdirectory("digitparity-jpeg-").FullName;
        var test = TestData.Mnist.Test;
        using var predictor = new Predictor(Trained.Value);
        var inMemory = predictor.Predict(Enumerable.Range(0, n).Select(i => test.Image(i).ToArray()).ToList());
        var files = new List<string>();
        for (int i = 0; i < n; i++)
        {
            byte[] img = test.Image(i).ToArray();
            // Blue ink on cream paper, twice the size, saved as JPEG.
            using var bitmap = new SKBitmap(56, 56, SKColorType.Rgba8888, SKAlphaType.Opaque);
            for (int y = 0; y < 56; y++)
                for (int x = 0; x < 56; x++)
                {
                    double ink = img[(y / 2) * 28 + x / 2] / 255.0;
                    bitmap.SetPixel(x, y, new SKColor((byte)(250 - 230 * ink), (byte)(245 - 200 * ink), (byte)(230 - 80 * ink)));
                }
            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, 95);
            string path = Path.Combine(dir, $"scan-{i}.jpg");
            File.WriteAllBytes(path, data.ToArray());
            files.Add(path);
        }
        var fromFiles = predictor.Predict(files.Select(DigitImage.Load).ToList());
        int same = Enumerable.Range(0, n).Count(i => fromFiles[i].Tasks[0].Label == inMemory[i].Tasks[0].Label);
        Assert.True(same >= n * 0.96, $"{same} of {n} JPEG digit predictions as in memory");
    }

    [Fact]
    public void BadImagesAreOneClearLineEach()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-png-").FullName;
        string blank = Png(dir, "blank.png", 30, 30, (_, _) => 255);
        var noInk = Assert.Throws<InvalidDataException>(() => DigitImage.Load(blank));
        Assert.Equal($"{blank}: no ink, expected a digit on a plain background", noInk.Message);

        string text = Path.Combine(dir, "notes.png");
        File.WriteAllText(text, "this is not an image");
        Assert.Equal($"{text}: not an image, expected a PNG, JPEG or BMP file", Assert.Throws<InvalidDataException>(() => DigitImage.Load(text)).Message);

        // A BMP header claiming 100,000 × 100,000 pixels, with no pixel data: rejected from the header alone.
        byte[] bmp = new byte[54];
        bmp[0] = (byte)'B'; bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), 100_000);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), 100_000);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        string huge = Path.Combine(dir, "huge.bmp");
        File.WriteAllBytes(huge, bmp);
        var tooLarge = Assert.Throws<InvalidDataException>(() => DigitImage.Load(huge));
        Assert.StartsWith(huge + ":", tooLarge.Message);
    }

    [Fact]
    public void ADirectoryDecodedInParallelAnswersInFileOrderAsOneAtATime()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-many-").FullName;
        string model = Path.Combine(dir, "model.safetensors");
        Checkpoint.Save(model, Trained.Value);
        for (int i = 0; i < 300; i++) File.WriteAllBytes(Path.Combine(dir, $"{i:D3}.png"), TestData.Png(TestData.Mnist.Test.Image(i)));
        File.WriteAllText(Path.Combine(dir, "150-broken.png"), "no");
        (string Output, string Error) Run(string threads)
        {
            var (output, error) = (new StringWriter(), new StringWriter());
            Assert.Equal(1, DigitParity.Cli.Program.Run(["predict", "--model", model, "--threads", threads, dir], output, error));
            return (output.ToString(), error.ToString());
        }
        var serial = Run("1");
        Assert.Equal(serial, Run("2"));
        // One at a time through the library, in the files' order.
        using var predictor = new Predictor(Trained.Value);
        var expected = string.Join("", Enumerable.Range(0, 300).Select(i =>
        {
            string path = Path.Combine(dir, $"{i:D3}.png");
            return DigitParity.Cli.PredictCommand.Text(path, predictor.PredictImage(path)) + Environment.NewLine;
        }));
        Assert.Equal(expected, serial.Output);
        Assert.Contains("150-broken.png: not an image", serial.Error);
    }

    [Fact]
    public void PredictCommandPrintsGoodFilesAndOneLinePerBadFile()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-png-").FullName;
        string model = Path.Combine(dir, "model.safetensors");
        Checkpoint.Save(model, Trained.Value);
        var image = TestData.Mnist.Test.Image(0).ToArray(); // a 7
        Png(dir, "seven.png", 28, 28, (x, y) => (byte)(255 - image[y * 28 + x]));
        File.WriteAllText(Path.Combine(dir, "broken.png"), "no");
        var output = new StringWriter();
        var error = new StringWriter();
        int code = DigitParity.Cli.Program.Run(["predict", "--model", model, dir], output, error);
        Assert.Equal(1, code);
        Assert.Contains("seven.png:  digit 7", output.ToString());
        Assert.Contains("parity odd", output.ToString());
        Assert.Equal($"digitparity: error: {Path.Combine(dir, "broken.png")}: not an image, expected a PNG, JPEG or BMP file", error.ToString().Trim());

        var json = new StringWriter();
        Assert.Equal(0, DigitParity.Cli.Program.Run(["predict", "--model", model, "--json", Path.Combine(dir, "seven.png")], json, new StringWriter()));
        using var document = System.Text.Json.JsonDocument.Parse(json.ToString());
        Assert.Equal(7, document.RootElement.GetProperty("tasks").GetProperty("digit").GetProperty("label").GetInt32());
        Assert.Equal(2, document.RootElement.GetProperty("tasks").GetProperty("parity").GetProperty("probabilities").GetArrayLength());
    }

    [Fact]
    public void PredictExplainDrawsTheInputAndEachHeadsSaliency()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-explain-").FullName;
        string model = Path.Combine(dir, "model.safetensors");
        Checkpoint.Save(model, Trained.Value);
        var image = TestData.Mnist.Test.Image(0).ToArray();
        string seven = Path.Combine(dir, "seven.png");
        File.WriteAllBytes(seven, TestData.Png(image));
        string picture = Path.Combine(dir, "why.png");
        var (output, error) = (new StringWriter(), new StringWriter());
        Assert.Equal(0, DigitParity.Cli.Program.Run(["predict", "--model", model, "--explain", picture, seven], output, error));
        using var predictor = new Predictor(Trained.Value);
        var explanation = predictor.ExplainImage(seven);
        Assert.Equal(DigitParity.Cli.PredictCommand.Text(seven, explanation.Prediction) + Environment.NewLine, output.ToString());
        Assert.Equal($"Explanation written to {picture}", error.ToString().Trim());

        // Panels of 28 × 8 pixels, 16 apart, from x = 16 and y = 40: the input, then one per head.
        using var bitmap = SkiaSharp.SKBitmap.Decode(picture);
        Assert.Equal(3 * 224 + 4 * 16, bitmap.Width);
        SkiaSharp.SKColor At(int panel, int pixel) => bitmap.GetPixel(16 + panel * 240 + (pixel % 28) * 8 + 4, 40 + (pixel / 28) * 8 + 4);
        for (int pixel = 0; pixel < 784; pixel++)
        {
            Assert.Equal(new SkiaSharp.SKColor((byte)Math.Round(explanation.Input[pixel] * 255), (byte)Math.Round(explanation.Input[pixel] * 255),
                (byte)Math.Round(explanation.Input[pixel] * 255)), At(0, pixel));
            if (explanation.Input[pixel] == 0) Assert.Equal(SkiaSharp.SKColors.Black, At(1, pixel));
        }
        for (int head = 0; head < 2; head++)
        {
            var values = explanation.Heads[head].Values;
            int strongest = Array.IndexOf(values, values.Max()), weakest = Array.IndexOf(values, values.Min());
            Assert.Equal(new SkiaSharp.SKColor(255, 140, 0), At(head + 1, strongest)); // orange: for the answer
            if (values[weakest] == -explanation.Heads[head].Peak) Assert.Equal(new SkiaSharp.SKColor(40, 120, 255), At(head + 1, weakest));
            else Assert.True(At(head + 1, weakest).Blue > At(head + 1, weakest).Red, "against the answer: blue");
        }

        error = new StringWriter();
        Assert.Equal(1, DigitParity.Cli.Program.Run(["predict", "--model", model, "--explain", picture, seven, seven], new StringWriter(), error));
        Assert.Equal($"digitparity: error: --explain {picture}: explains one image file; got 2 inputs", error.ToString().Trim());
        error = new StringWriter();
        Assert.Equal(1, DigitParity.Cli.Program.Run(["predict", "--model", model, "--explain", Path.Combine(dir, "no", "why.png"), seven], new StringWriter(), error));
        Assert.Contains("does not exist, expected a writable location for the explanation", error.ToString());
    }
}

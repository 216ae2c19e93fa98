using System.Buffers.Binary;
using DigitParity.Data;
using DigitParity.Engine;
using DigitParity.Tasks;

namespace DigitParity.Tests;

public sealed class IdxReaderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsImagesAndLabels_RawAndGzip(bool gzip)
    {
        var raw = TestData.ImagesIdx(3, 2, 4, i => (byte)(i * 10));
        using var images = new TempFile(gzip ? TestData.Gzip(raw) : raw, gzip ? ".gz" : "");
        var result = IdxReader.ReadImages(images.Path);
        Assert.Equal((3, 2, 4), (result.Count, result.Rows, result.Columns));
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (byte)(i * 10)), result.Pixels);

        var labelsRaw = TestData.LabelsIdx(7, 0, 9);
        using var labels = new TempFile(gzip ? TestData.Gzip(labelsRaw) : labelsRaw);
        Assert.Equal(new byte[] { 7, 0, 9 }, IdxReader.ReadLabels(labels.Path));
    }

    [Fact]
    public void RealMnistFilesHaveTheStandardShapes()
    {
        var mnist = TestData.Mnist;
        Assert.Equal((60000, 28, 28), (mnist.Train.Count, mnist.Train.Rows, mnist.Train.Columns));
        Assert.Equal(10000, mnist.Test.Count);
        // The first training label of MNIST is a 5 and the first test label a 7.
        Assert.Equal(5, mnist.Train.Labels[0]);
        Assert.Equal(7, mnist.Test.Labels[0]);
    }

    public static TheoryData<string, byte[], string> MalformedImages() => new()
    {
        { "wrong magic", TestData.ImagesIdx(2, 2, 2, magic: 0x00000801), "magic number 0x00000801, expected 0x00000803" },
        { "truncated", TestData.ImagesIdx(2, 2, 2)[..^3], "expected 8 as the header says (file truncated?)" },
        { "trailing bytes", [.. TestData.ImagesIdx(2, 2, 2), 1, 2], "(trailing bytes)" },
        { "short header", TestData.ImagesIdx(2, 2, 2)[..10], "expected an IDX images header of 16 bytes" },
        { "zero count", TestData.ImagesIdx(0, 2, 2), "image count 0, expected a positive count" },
        { "huge side", WithHeader(TestData.ImagesIdx(1, 1, 1), 1, 100000, 1), "expected each side in 1-4096" },
        { "gigabytes claimed", WithHeader(TestData.ImagesIdx(1, 1, 1), int.MaxValue, 4096, 4096), "expected at most 1073741824 bytes" },
    };

    [Theory]
    [MemberData(nameof(MalformedImages))]
    public void MalformedImageFilesRaiseInvalidDataNamingTheFile(string _, byte[] content, string expected)
    {
        foreach (bool gzip in new[] { false, true })
        {
            using var file = new TempFile(gzip ? TestData.Gzip(content) : content);
            var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(file.Path));
            Assert.StartsWith(file.Path + ":", error.Message);
            Assert.Contains(expected, error.Message);
        }
    }

    [Fact]
    public void LyingHeaderInGzipDoesNotAllocateWhatItClaims()
    {
        // 1,000,000 images of 28x28 = 784 MB claimed, 16 bytes delivered.
        var content = TestData.Gzip(WithHeader(TestData.ImagesIdx(1, 1, 1), 1_000_000, 28, 28)[..16]);
        using var file = new TempFile(content);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(file.Path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("file truncated?", error.Message);
        Assert.True(allocated < 8 << 20, $"allocated {allocated} bytes for a 16-byte file");
    }

    [Fact]
    public void LabelOutsideTheClassesIsRejected()
    {
        using var file = new TempFile(TestData.LabelsIdx(1, 2, 10));
        var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(file.Path));
        Assert.Contains("label 10 at index 2, expected a label in 0-9", error.Message);
    }

    [Fact]
    public void LabelFileWithImageMagicIsRejected()
    {
        using var file = new TempFile(TestData.ImagesIdx(1, 1, 1));
        var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(file.Path));
        Assert.Contains("expected 0x00000801", error.Message);
    }

    [Fact]
    public void CorruptGzipIsReportedAsInvalidData()
    {
        var gz = TestData.Gzip(TestData.ImagesIdx(4, 8, 8));
        for (int i = 12; i < gz.Length - 8; i++) gz[i] ^= 0x5A;
        using var file = new TempFile(gz);
        var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(file.Path));
        Assert.StartsWith(file.Path + ":", error.Message);
    }

    [Fact]
    public void LabelCountMustMatchImageCount()
    {
        using var images = new TempFile(TestData.ImagesIdx(3, 2, 2));
        using var labels = new TempFile(TestData.LabelsIdx(1, 2));
        var error = Assert.Throws<InvalidDataException>(() => Dataset.Load(images.Path, labels.Path));
        Assert.Contains("2 labels, expected 3", error.Message);
    }

    [Fact]
    public void MissingFilesAndDirectoriesAreNamed()
    {
        string dir = Directory.CreateTempSubdirectory().FullName;
        var missing = Assert.Throws<FileNotFoundException>(() => MnistFiles.Load(dir));
        Assert.Contains("train-images-idx3-ubyte", missing.Message);
        var noDir = Assert.Throws<DirectoryNotFoundException>(() => MnistFiles.Load(Path.Combine(dir, "nope")));
        Assert.Contains("nope", noDir.Message);
    }

    private static byte[] WithHeader(byte[] idx, int count, int rows, int columns)
    {
        var copy = idx.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(12), columns);
        return copy;
    }
}

public sealed class GatherTests
{
    [Fact]
    public void PixelsBecomeExactlyPixelOver255()
    {
        byte[] all = Enumerable.Range(0, 256).Select(i => (byte)i).Concat(new byte[] { 255, 1, 7 }).ToArray();
        float[] x = new float[all.Length];
        UnitFloats.FromBytes(all, x);
        for (int i = 0; i < all.Length; i++) Assert.Equal(all[i] / 255f, x[i]);
    }

    // The masks read from the bytes must be the ones ActiveDepth computes from the floats, through every path of the
    // conversion: 64-pixel blocks (blank ones included), 16-pixel blocks and single pixels.
    [Theory]
    [InlineData(784)]
    [InlineData(259)]
    [InlineData(100)]
    [InlineData(17)]
    [InlineData(5)]
    public void PixelMasksFromTheBytesEqualTheMasksOfTheFloats(int length)
    {
        var rng = new Rng(5);
        byte[] pixels = new byte[length];
        for (int i = 0; i < length; i++) pixels[i] = rng.NextFloat() < 0.7f ? (byte)0 : (byte)(1 + (int)(rng.NextFloat() * 254.99f));
        pixels.AsSpan(0, Math.Min(64, length)).Clear(); // a blank block
        pixels[length - 1] = 9;
        var data = new LabeledDataset(new Dataset(pixels, [0], 1, length), TaskDefinition.DigitAndParity);
        int words = ActiveDepth.MaskWords(length);
        float[] x = new float[length];
        ulong[] masks = Enumerable.Repeat(ulong.MaxValue, words).ToArray(), expected = new ulong[words];
        UnitFloats.FromBytes(pixels, x);
        data.GatherPixelBytes([0], new byte[length], masks, words);
        for (int i = 0; i < length; i++) Assert.Equal(pixels[i] / 255f, x[i]);
        ActiveDepth.NonZeroMasks(x, length, length, 0, 1, expected);
        Assert.Equal(expected, masks);
        if (length > 64) Assert.Throws<ArgumentException>(() => data.GatherPixelBytes([0], new byte[length], masks, (length + 63) / 64 - 1));
    }

    // The per-image index training copies from must equal what indexing the gathered floats gives: the row masks and the
    // tile-mask table, for a batch drawn from all three chunks the index is built in (256, 256 and 88 images), with a
    // table padded past the batch.
    [Fact]
    public void TheImageIndexGivesTheMasksAndTileMasksOfTheGatheredImages()
    {
        var data = new LabeledDataset(TestData.Mnist.Test.Take(600), TaskDefinition.DigitAndParity);
        var index = new DigitParity.Training.ImageMasks(data);
        int[] batch = [599, 3, 255, 256, 511, 512, 100, 42, 598, 0, 300];
        int words = ActiveDepth.MaskWords(784), stride = ActiveDepth.TileStride(batch.Length), tileWords = ActiveDepth.TileWords(784);
        float[] x = new float[batch.Length * 784];
        data.GatherPixels(batch, x);
        ulong[] expectedMasks = new ulong[batch.Length * words], expectedTiles = new ulong[tileWords * stride];
        ActiveDepth.IndexRows(x, batch.Length, 784, 0, batch.Length, expectedMasks, expectedTiles);
        ulong[] masks = Enumerable.Repeat(ulong.MaxValue, batch.Length * words).ToArray(), tiles = new ulong[tileWords * stride];
        index.Gather(batch, masks, tiles, stride);
        Assert.Equal(expectedMasks, masks);
        Assert.Equal(expectedTiles, tiles);
        Assert.Contains(masks, word => word != 0);
        Assert.Throws<ArgumentException>(() => index.Gather(batch, masks.AsSpan(1), tiles, stride));
        Assert.Throws<ArgumentException>(() => index.Gather(batch, masks, tiles, batch.Length - 1));
    }

    [Fact]
    public void PixelBytesComeWithTheirMasksAndTheirValuesAreTheFloats()
    {
        var data = new LabeledDataset(TestData.Mnist.Test.Take(50), TaskDefinition.DigitAndParity);
        int words = ActiveDepth.MaskWords(784);
        byte[] pixels = new byte[3 * 784];
        float[] x = new float[3 * 784];
        ulong[] masks = Enumerable.Repeat(ulong.MaxValue, 3 * words).ToArray(), expected = new ulong[3 * words];
        data.GatherPixelBytes([11, 0, 49], pixels, masks, words);
        data.GatherPixels([11, 0, 49], x);
        ActiveDepth.NonZeroMasks(x, 784, 784, 0, 3, expected);
        Assert.Equal(expected, masks);
        for (int i = 0; i < x.Length; i++) Assert.Equal(x[i], UnitFloats.ByteValues[pixels[i]]);
        for (int b = 0; b < 256; b++) Assert.Equal(b / 255f, UnitFloats.ByteValues[b]);
        Assert.Throws<ArgumentException>(() => data.GatherPixelBytes([11, 0, 49], pixels.AsSpan(1), masks, words));
        Assert.Throws<ArgumentException>(() => data.GatherPixelBytes([11, 0, 49], pixels, masks.AsSpan(1), words));
    }

    [Fact]
    public void GatherCopiesTheChosenSamplesAndTheirTaskLabels()
    {
        var data = new LabeledDataset(TestData.Mnist.Test.Take(50), TaskDefinition.DigitAndParity);
        float[] x = new float[2 * 784];
        int[][] labels = [new int[2], new int[2]];
        data.Gather([7, 3], x, labels);
        Assert.Equal(data.Data.Image(7)[200] / 255f, x[200]);
        Assert.Equal(data.Data.Image(3)[400] / 255f, x[784 + 400]);
        Assert.Equal([data.Data.Labels[7], data.Data.Labels[3]], labels[0]);
        Assert.Equal([data.Data.Labels[7] % 2, data.Data.Labels[3] % 2], labels[1]);
    }
}

public sealed class EmbeddedDataTests
{
    [Fact]
    public void EmbeddedMnistMatchesThePublishedChecksumsOfTheRawFiles()
    {
        // data/mnist/SHA256SUMS.raw lists the SHA-256 of each decompressed IDX file.
        string dir = MnistFiles.EmbeddedDirectory;
        string sums = Path.Combine(FindRepositoryData(), "SHA256SUMS.raw");
        foreach (string line in File.ReadAllLines(sums).Where(l => l.Trim().Length > 0))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            using var gzip = new System.IO.Compression.GZipStream(File.OpenRead(Path.Combine(dir, parts[1] + ".gz")), System.IO.Compression.CompressionMode.Decompress);
            string actual = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(gzip));
            Assert.Equal(parts[0], actual);
        }
    }

    private static string FindRepositoryData()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "data", "mnist");
            if (File.Exists(Path.Combine(candidate, "SHA256SUMS.raw"))) return candidate;
        }
        throw new DirectoryNotFoundException("data/mnist/SHA256SUMS.raw not found above the test binaries");
    }
}

public sealed class SplitTests
{
    [Fact]
    public void ShiftedMovesEveryImageAndFillsWithBlack()
    {
        // Two 2 × 3 images: 1 2 3 / 4 5 6 and 7 8 9 / 10 11 12.
        var data = new Dataset([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 4], 2, 3);
        Assert.Equal(new byte[] { 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11 }, data.Shifted(1, 0).Pixels);
        Assert.Equal(new byte[] { 0, 0, 0, 2, 3, 0, 0, 0, 0, 8, 9, 0 }, data.Shifted(-1, 1).Pixels);
        Assert.Equal(new byte[] { 4, 5, 6, 0, 0, 0, 10, 11, 12, 0, 0, 0 }, data.Shifted(0, -1).Pixels);
        Assert.Equal(data.Pixels, data.Shifted(0, 0).Pixels);
        Assert.All(data.Shifted(3, 0).Pixels, p => Assert.Equal(0, p));
        Assert.Equal(data.Labels, data.Shifted(1, 1).Labels);
    }

    [Fact]
    public void HoldOutIsASeededDisjointPartition()
    {
        var data = TestData.Mnist.Train.Take(1000);
        var (kept, heldOut) = data.Split(0.2, seed: 7);
        Assert.Equal((800, 200), (kept.Count, heldOut.Count));
        var again = data.Split(0.2, seed: 7);
        Assert.Equal(heldOut.Pixels, again.HeldOut.Pixels);
        Assert.NotEqual(heldOut.Pixels, data.Split(0.2, seed: 8).HeldOut.Pixels);
        // Every sample lands in exactly one part: the label histograms add up.
        for (int digit = 0; digit < 10; digit++)
            Assert.Equal(data.Labels.Count(l => l == digit), kept.Labels.Count(l => l == digit) + heldOut.Labels.Count(l => l == digit));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Split(1.0, 1));
    }

    [Fact]
    public void ValSplitValidatesOnHeldOutTrainingDataAndTestsOnceAtTheEnd()
    {
        string dir = TestData.WriteMnistSubset(2000, 300, gzip: false);
        string metrics = Path.Combine(dir, "metrics.json");
        var output = new StringWriter();
        Assert.Equal(0, DigitParity.Cli.Program.Run(["train", "--data", dir, "--epochs", "2", "--val-split", "0.25", "--metrics", metrics], output, new StringWriter()));
        Assert.Contains("Data: 1500 training and 500 validation images (held out of the training set), 300 test images", output.ToString());
        Assert.Contains("Final Test-accuracy=", output.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(metrics));
        Assert.Equal(500, json.RootElement.GetProperty("epochs")[1].GetProperty("validation").GetProperty("samples").GetInt64());
        Assert.Equal(300, json.RootElement.GetProperty("test").GetProperty("samples").GetInt64());
    }
}

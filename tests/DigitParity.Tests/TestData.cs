using System.Buffers.Binary;
using System.IO.Compression;
using DigitParity.Data;

namespace DigitParity.Tests;

/// <summary>Builders of IDX bytes and small datasets shared by the tests.</summary>
internal static class TestData
{
    public static byte[] ImagesIdx(int count, int rows, int columns, Func<int, byte>? pixel = null, int magic = IdxReader.ImagesMagic)
    {
        var bytes = new byte[16 + count * rows * columns];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), columns);
        for (int i = 16; i < bytes.Length; i++) bytes[i] = pixel?.Invoke(i - 16) ?? (byte)(i * 7);
        return bytes;
    }

    public static byte[] LabelsIdx(params byte[] labels)
    {
        var bytes = new byte[8 + labels.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, IdxReader.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), labels.Length);
        labels.CopyTo(bytes, 8);
        return bytes;
    }

    public static byte[] Gzip(byte[] raw)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(raw);
        return buffer.ToArray();
    }

    /// <summary>The embedded MNIST, loaded once for all tests.</summary>
    public static DataSplits Mnist => LazyMnist.Value;

    private static readonly Lazy<DataSplits> LazyMnist = new(() => MnistFiles.Load(MnistFiles.EmbeddedDirectory));

    /// <summary>The tutorial's network after one epoch on 20,000 MNIST images (~95 % digit accuracy), trained once for all tests.</summary>
    public static Lazy<DigitParity.Model.MultiTaskNetwork> Trained { get; } = new(() =>
    {
        var config = DigitParity.Model.ModelConfig.Tutorial;
        var network = new DigitParity.Model.MultiTaskNetwork(config);
        network.Initialize(2);
        using var trainer = new DigitParity.Training.Trainer(network, new DigitParity.Training.TrainingOptions { Epochs = 1 });
        trainer.Fit(new LabeledDataset(Mnist.Train.Take(20000), config.Tasks), new LabeledDataset(Mnist.Test.Take(100), config.Tasks));
        return network;
    });

    /// <summary>The CNN with batch norm after one epoch on 5,000 MNIST images (its running statistics away from 0 and 1), trained once for all tests.</summary>
    public static Lazy<DigitParity.Model.MultiTaskNetwork> TrainedBatchNorm { get; } = new(() =>
    {
        var config = DigitParity.Model.ModelConfig.Cnn with { BatchNorm = true };
        var network = new DigitParity.Model.MultiTaskNetwork(config);
        network.Initialize(3);
        using var trainer = new DigitParity.Training.Trainer(network, new DigitParity.Training.TrainingOptions { Epochs = 1, Threads = 2 });
        trainer.Fit(new LabeledDataset(Mnist.Train.Take(5000), config.Tasks), new LabeledDataset(Mnist.Test.Take(100), config.Tasks));
        return network;
    });

    /// <summary>A PNG of 28 × 28 MNIST bytes drawn <paramref name="scale"/> times larger, white ink on black.</summary>
    public static byte[] Png(ReadOnlySpan<byte> mnist, int scale = 1)
    {
        int side = 28 * scale;
        using var bitmap = new SkiaSharp.SKBitmap(side, side, SkiaSharp.SKColorType.Gray8, SkiaSharp.SKAlphaType.Opaque);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) { byte v = mnist[(y / scale) * 28 + x / scale]; bitmap.SetPixel(x, y, new SkiaSharp.SKColor(v, v, v)); }
        using var image = SkiaSharp.SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>The repository root (holds DigitParity.slnx), found from the test binaries.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "DigitParity.slnx"))) return dir.FullName;
            throw new DirectoryNotFoundException("DigitParity.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Writes the first samples of a dataset as the four IDX files into a new temporary directory.</summary>
    public static string WriteMnistSubset(int train, int test, bool gzip)
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-").FullName;
        void Write(string name, byte[] raw) => File.WriteAllBytes(Path.Combine(dir, gzip ? name + ".gz" : name), gzip ? Gzip(raw) : raw);
        void WriteSet(Dataset data, int count, string prefix)
        {
            var subset = data.Take(count);
            var images = ImagesIdx(count, subset.Rows, subset.Columns, i => subset.Pixels[i]);
            Write($"{prefix}-images-idx3-ubyte", images);
            Write($"{prefix}-labels-idx1-ubyte", LabelsIdx(subset.Labels));
        }
        WriteSet(Mnist.Train, train, "train");
        WriteSet(Mnist.Test, test, "t10k");
        return dir;
    }
}

/// <summary>A temporary file deleted at the end of a test.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(byte[] content, string suffix = "")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"digitparity-{Guid.NewGuid():N}{suffix}");
        File.WriteAllBytes(Path, content);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}

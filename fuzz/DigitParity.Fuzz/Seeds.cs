using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using DigitParity.Data;
using DigitParity.Model;
using DigitParity.Tasks;
using SkiaSharp;

namespace DigitParity.Fuzz;

/// <summary>Writes the starting corpus of every target from real MNIST images: small, valid inputs that reach deep into each parser.</summary>
public static class Seeds
{
    /// <summary>Writes <c>OUT/TARGET/*</c> from the MNIST files in <paramref name="dataDirectory"/>.</summary>
    public static void Write(string dataDirectory, string outDirectory)
    {
        var test = MnistFiles.Load(dataDirectory).Test;
        string Dir(string target) => Directory.CreateDirectory(Path.Combine(outDirectory, target)).FullName;

        string idx = Dir("idx");
        byte[] images = ImagesIdx(test, 2), labels = LabelsIdx(test, 2);
        File.WriteAllBytes(Path.Combine(idx, "images-2"), images);
        File.WriteAllBytes(Path.Combine(idx, "labels-2"), labels);
        File.WriteAllBytes(Path.Combine(idx, "images-2.gz"), Gzip(images));
        File.WriteAllBytes(Path.Combine(idx, "labels-2.gz"), Gzip(labels));

        string checkpoint = Dir("checkpoint");
        var network = new MultiTaskNetwork(new ModelConfig(6, [3], TaskDefinition.DigitAndParity));
        network.Initialize(1);
        Checkpoints.Checkpoint.Save(Path.Combine(checkpoint, "tiny.safetensors"), network, new Dictionary<string, string> { ["epoch"] = "1" });

        string image = Dir("image");
        byte[] digit = test.Image(0).ToArray();
        File.WriteAllBytes(Path.Combine(image, "digit.png"), Encode(digit, SKEncodedImageFormat.Png));
        File.WriteAllBytes(Path.Combine(image, "digit.jpg"), Encode(digit, SKEncodedImageFormat.Jpeg));
        File.WriteAllBytes(Path.Combine(image, "digit.bmp"), Bmp(digit));

        string request = Dir("request");
        byte[] Pick(string? type, byte[] body) => [(byte)Array.IndexOf(FuzzTargets.ContentTypes, type), .. body];
        File.WriteAllBytes(Path.Combine(request, "png"), Pick("image/png", Encode(digit, SKEncodedImageFormat.Png)));
        File.WriteAllBytes(Path.Combine(request, "json"), Pick("application/json",
            Encoding.UTF8.GetBytes("{\"pixels\":[" + string.Join(",", digit.Select(p => (p / 255.0).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture))) + "]}")));
        File.WriteAllBytes(Path.Combine(request, "multipart"), Pick("multipart/form-data; boundary=b",
            [.. Encoding.ASCII.GetBytes("--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"d.png\"\r\nContent-Type: image/png\r\n\r\n"),
             .. Encode(digit, SKEncodedImageFormat.Png), .. Encoding.ASCII.GetBytes("\r\n--b--\r\n")]));
    }

    private static byte[] ImagesIdx(Dataset data, int count)
    {
        var bytes = new byte[16 + count * data.FeatureCount];
        BinaryPrimitives.WriteInt32BigEndian(bytes, IdxReader.ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), data.Rows);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), data.Columns);
        data.Pixels.AsSpan(0, count * data.FeatureCount).CopyTo(bytes.AsSpan(16));
        return bytes;
    }

    private static byte[] LabelsIdx(Dataset data, int count)
    {
        var bytes = new byte[8 + count];
        BinaryPrimitives.WriteInt32BigEndian(bytes, IdxReader.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        data.Labels.AsSpan(0, count).CopyTo(bytes.AsSpan(8));
        return bytes;
    }

    private static byte[] Gzip(byte[] raw)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true)) gzip.Write(raw);
        return buffer.ToArray();
    }

    private static byte[] Encode(byte[] gray, SKEncodedImageFormat format)
    {
        using var bitmap = new SKBitmap(28, 28, SKColorType.Gray8, SKAlphaType.Opaque);
        gray.CopyTo(bitmap.GetPixelSpan());
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, 90);
        return data.ToArray();
    }

    // An 8-bit grayscale BMP with a 256-entry palette, bottom-up rows padded to 4 bytes.
    private static byte[] Bmp(byte[] gray)
    {
        const int Side = 28, Header = 14 + 40 + 1024;
        var bytes = new byte[Header + Side * Side];
        bytes[0] = (byte)'B'; bytes[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(2), bytes.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(10), Header);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(18), Side);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), Side);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(28), 8);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(46), 256);
        for (int i = 0; i < 256; i++) { bytes[54 + 4 * i] = bytes[55 + 4 * i] = bytes[56 + 4 * i] = (byte)i; }
        for (int y = 0; y < Side; y++) gray.AsSpan((Side - 1 - y) * Side, Side).CopyTo(bytes.AsSpan(Header + y * Side));
        return bytes;
    }
}

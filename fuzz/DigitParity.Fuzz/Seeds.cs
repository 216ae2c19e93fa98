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
        // A gzip that expands past its header's size (a small bomb) and one cut in half.
        File.WriteAllBytes(Path.Combine(idx, "images-2-bomb.gz"), Gzip([.. images, .. new byte[1 << 16]]));
        byte[] gzipped = Gzip(images);
        File.WriteAllBytes(Path.Combine(idx, "images-2-cut.gz"), gzipped[..(gzipped.Length / 2)]);

        string checkpoint = Dir("checkpoint");
        var network = new MultiTaskNetwork(new ModelConfig(6, [3], TaskDefinition.DigitAndParity));
        network.Initialize(1);
        Checkpoints.Checkpoint.Save(Path.Combine(checkpoint, "tiny.safetensors"), network, new Dictionary<string, string> { ["epoch"] = "1" });
        var cnn = new MultiTaskNetwork(new ModelConfig(36, [2], TaskDefinition.DigitAndParity) { Convolutions = [2], Kernel = 3 });
        cnn.Initialize(1);
        Checkpoints.Checkpoint.Save(Path.Combine(checkpoint, "tiny-cnn.safetensors"), cnn);

        // The same CNN as PyTorch's save_file writes a state_dict: no metadata, in F32, F16 and BF16.
        string stateDict = Dir("statedict");
        var tensors = Checkpoints.Checkpoint.Tensors(cnn);
        foreach (string dtype in new[] { "F32", "F16", "BF16" })
            File.WriteAllBytes(Path.Combine(stateDict, $"tiny-cnn.{dtype}.safetensors"), StateDictFile(tensors, dtype));

        string image = Dir("image");
        byte[] digit = test.Image(0).ToArray();
        File.WriteAllBytes(Path.Combine(image, "digit.png"), Encode(digit, SKEncodedImageFormat.Png));
        File.WriteAllBytes(Path.Combine(image, "digit.jpg"), Encode(digit, SKEncodedImageFormat.Jpeg));
        File.WriteAllBytes(Path.Combine(image, "digit.bmp"), Bmp(digit));
        // Truncated images (they must be refused, not guessed at) and a PNG whose header claims 6324 × 6324.
        byte[] png = Encode(digit, SKEncodedImageFormat.Png), jpeg = Encode(digit, SKEncodedImageFormat.Jpeg);
        File.WriteAllBytes(Path.Combine(image, "digit-half.png"), png[..(png.Length / 2)]);
        File.WriteAllBytes(Path.Combine(image, "digit-third.jpg"), jpeg[..(jpeg.Length / 3)]);
        File.WriteAllBytes(Path.Combine(image, "claims-6324.png"), Resized(png, 6324));

        string request = Dir("request");
        byte[] Pick(string? type, byte[] body) => [(byte)Array.IndexOf(FuzzTargets.ContentTypes, type), .. body];
        File.WriteAllBytes(Path.Combine(request, "png"), Pick("image/png", Encode(digit, SKEncodedImageFormat.Png)));
        File.WriteAllBytes(Path.Combine(request, "json"), Pick("application/json",
            Encoding.UTF8.GetBytes("{\"pixels\":[" + string.Join(",", digit.Select(p => (p / 255.0).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture))) + "]}")));
        File.WriteAllBytes(Path.Combine(request, "multipart"), Pick("multipart/form-data; boundary=b",
            [.. Encoding.ASCII.GetBytes("--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"d.png\"\r\nContent-Type: image/png\r\n\r\n"),
             .. Encode(digit, SKEncodedImageFormat.Png), .. Encoding.ASCII.GetBytes("\r\n--b--\r\n")]));
        File.WriteAllBytes(Path.Combine(request, "png-half"), Pick("image/png", png[..(png.Length / 2)]));
        File.WriteAllBytes(Path.Combine(request, "png-claims-6324"), Pick("application/octet-stream", Resized(png, 6324)));
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

    // A safetensors file of the tensors in dtype, without metadata.
    private static byte[] StateDictFile(IReadOnlyList<IO.NamedTensor> tensors, string dtype)
    {
        var header = new Dictionary<string, object>();
        var data = new MemoryStream();
        int width = dtype == "F32" ? 4 : 2;
        foreach (var t in tensors)
        {
            header[t.Name] = new { dtype, shape = t.Shape, data_offsets = new[] { data.Length, data.Length + (long)width * t.Data.Length } };
            var element = new byte[width];
            foreach (float v in t.Data)
            {
                if (dtype == "F32") BinaryPrimitives.WriteSingleLittleEndian(element, v);
                else if (dtype == "F16") BinaryPrimitives.WriteUInt16LittleEndian(element, BitConverter.HalfToUInt16Bits((Half)v));
                else BinaryPrimitives.WriteUInt16LittleEndian(element, (ushort)(BitConverter.SingleToInt32Bits(v) >>> 16));
                data.Write(element);
            }
        }
        byte[] json = Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(header));
        byte[] length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        return [.. length, .. json, .. data.ToArray()];
    }

    // The PNG with its IHDR's width and height set to side (the chunk's CRC recomputed): its pixel data no longer fills it.
    private static byte[] Resized(byte[] png, int side)
    {
        byte[] copy = [.. png];
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(16), side);
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(20), side);
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(29), Crc32(copy.AsSpan(12, 17))); // "IHDR" and its 13 bytes
        return copy;
    }

    // PNG's CRC-32 (ISO 3309, reflected polynomial 0xEDB88320), bit by bit.
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = ~0u;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
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

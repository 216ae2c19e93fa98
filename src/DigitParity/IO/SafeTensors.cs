using System.Buffers.Binary;
using System.Text.Json;

namespace DigitParity.IO;

/// <summary>One float32 tensor of a safetensors file.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Shape">Dimensions, row-major.</param>
/// <param name="Data">Values, row-major.</param>
internal sealed record NamedTensor(string Name, int[] Shape, float[] Data);

/// <summary>The tensors and string metadata of a safetensors file.</summary>
/// <param name="Tensors">Tensors in file order.</param>
/// <param name="Metadata">The <c>__metadata__</c> map.</param>
internal sealed record SafeTensorsFile(IReadOnlyList<NamedTensor> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>The tensor called <paramref name="name"/>.</summary>
    public NamedTensor this[string name] => Tensors.FirstOrDefault(t => t.Name == name)
        ?? throw new KeyNotFoundException($"No tensor named {name}.");
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// (<c>{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}</c>, padded with
/// spaces to a multiple of 8), then the raw little-endian data, offsets relative to its start. We write and read F32.
/// </summary>
internal static class SafeTensors
{
    /// <summary>Largest header we read (100 MB, the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Writes <paramref name="tensors"/> and <paramref name="metadata"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, IReadOnlyList<NamedTensor> tensors, IReadOnlyDictionary<string, string> metadata)
        => AtomicFile.Write(path, stream => Write(stream, tensors, metadata));

    /// <summary>Writes the format to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyList<NamedTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        using var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) json.WriteString(key, value);
            json.WriteEndObject();
            long offset = 0;
            foreach (var tensor in tensors)
            {
                long length = (long)tensor.Data.Length * sizeof(float);
                if (tensor.Shape.Aggregate(1L, (a, b) => a * b) != tensor.Data.Length)
                    throw new ArgumentException($"Tensor {tensor.Name}: shape [{string.Join(", ", tensor.Shape)}] does not hold {tensor.Data.Length} values.");
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int d in tensor.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += length;
            }
            json.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');
        Span<byte> size = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(size, (ulong)header.Length);
        stream.Write(size);
        header.Position = 0;
        header.CopyTo(stream);
        foreach (var tensor in tensors)
        {
            byte[] bytes = new byte[tensor.Data.Length * sizeof(float)];
            for (int i = 0; i < tensor.Data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), tensor.Data[i]);
            stream.Write(bytes);
        }
    }

    /// <summary>
    /// Reads a safetensors file of F32, F16 or BF16 tensors (converted to float32), validating before allocating: the header length against the file,
    /// every dtype, shape and offset range (inside the data, matching the shape, not overlapping).
    /// Every problem is an <see cref="InvalidDataException"/> naming the file.
    /// </summary>
    public static SafeTensorsFile Read(string path)
    {
        using var stream = InputFile.Open(path, "a safetensors model");
        return Read(stream, path);
    }

    /// <summary>Reads from a seekable stream; <paramref name="name"/> is used in error messages.</summary>
    public static SafeTensorsFile Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long fileLength = stream.Length;
        Span<byte> size = stackalloc byte[8];
        if (stream.ReadAtLeast(size, 8, throwOnEndOfStream: false) < 8) throw Bad(name, "fewer than 8 bytes, expected a safetensors header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(size);
        if (headerLength == 0 || headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
            throw Bad(name, $"a header of {headerLength} bytes, expected 1-{Math.Min(MaxHeaderBytes, fileLength - 8)} bytes (the file holds {fileLength})");
        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataLength = fileLength - 8 - (long)headerLength;

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>();
        try
        {
            using var json = JsonDocument.Parse(header);
            if (json.RootElement.ValueKind != JsonValueKind.Object) throw Bad(name, "a header that is not a JSON object");
            foreach (var property in json.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    foreach (var item in property.Value.EnumerateObject())
                    {
                        if (item.Value.ValueKind != JsonValueKind.String) throw Bad(name, $"metadata {Untrusted.Quote(item.Name)} that is not a string");
                        metadata[item.Name] = item.Value.GetString()!;
                    }
                    continue;
                }
                var tensor = property.Value;
                string dtype = tensor.GetProperty("dtype").GetString() ?? "";
                int width = ElementBytes(dtype);
                if (width == 0) throw Bad(name, $"tensor {Untrusted.Quote(property.Name)} of dtype {Untrusted.Quote(dtype)}, expected F32, F16 or BF16");
                int[] shape = tensor.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
                if (shape.Any(d => d < 0)) throw Bad(name, $"tensor {Untrusted.Quote(property.Name)} with a negative dimension");
                long[] offsets = tensor.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                    throw Bad(name, $"tensor {Untrusted.Quote(property.Name)} at bytes [{string.Join(", ", offsets)}], expected a range inside the {dataLength} data bytes");
                long elements = shape.Aggregate(1L, (a, b) => a * b);
                if (elements * width != offsets[1] - offsets[0])
                    throw Bad(name, $"tensor {Untrusted.Quote(property.Name)} of shape [{string.Join(", ", shape)}] in {offsets[1] - offsets[0]} bytes, expected {elements * width} ({dtype})");
                entries.Add(new Entry(property.Name, dtype, shape, offsets[0], offsets[1], entries.Count));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Bad(name, $"a malformed header ({Untrusted.Quote(e.Message.TrimEnd('.'), 160)}), expected safetensors JSON");
        }
        // By offset, ties in header order. (A class and List.Sort rather than a tuple and OrderBy: those generic
        // instantiations would be compiled at start-up, as no precompiled image holds them.)
        entries.Sort(static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.Index.CompareTo(b.Index));
        for (int i = 1; i < entries.Count; i++)
            if (entries[i].Begin < entries[i - 1].End) throw Bad(name, $"tensors {Untrusted.Quote(entries[i - 1].Name)} and {Untrusted.Quote(entries[i].Name)} overlapping, expected disjoint ranges");

        long dataStart = 8 + (long)headerLength;
        var tensors = new List<NamedTensor>();
        foreach (var (tensorName, dtype, shape, begin, end, _) in entries)
        {
            byte[] bytes = new byte[end - begin];
            stream.Position = dataStart + begin;
            stream.ReadExactly(bytes);
            tensors.Add(new NamedTensor(tensorName, shape, ToFloats(bytes, dtype)));
        }
        return new SafeTensorsFile(tensors, metadata);
    }

    // A tensor's header entry: its bytes are [Begin, End) of the data; Index is its place in the header.
    private sealed record Entry(string Name, string DType, int[] Shape, long Begin, long End, int Index);

    // Bytes per element of the dtypes read (0: not one of them).
    private static int ElementBytes(string dtype) => dtype switch { "F32" => 4, "F16" or "BF16" => 2, _ => 0 };

    // Little-endian elements to float32; F16 and BF16 convert exactly (float32 holds every value of both).
    private static float[] ToFloats(byte[] bytes, string dtype)
    {
        float[] data = new float[bytes.Length / ElementBytes(dtype)];
        if (dtype == "F16")
            for (int i = 0; i < data.Length; i++) data[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)));
        else if (dtype == "BF16")
            for (int i = 0; i < data.Length; i++) data[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)) << 16);
        else
            for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
        return data;
    }

    private static InvalidDataException Bad(string name, string found) => new($"{name}: {found}");
}

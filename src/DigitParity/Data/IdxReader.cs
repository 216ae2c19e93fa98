using System.Buffers.Binary;
using System.IO.Compression;
using DigitParity.IO;

namespace DigitParity.Data;

/// <summary>Images read from an IDX3 file: <c>Count</c> images of <c>Rows × Columns</c> unsigned bytes, row-major.</summary>
/// <param name="Count">Number of images.</param>
/// <param name="Rows">Height of each image in pixels.</param>
/// <param name="Columns">Width of each image in pixels.</param>
/// <param name="Pixels">All pixels, image after image: (Count, Rows, Columns).</param>
internal sealed record IdxImages(int Count, int Rows, int Columns, byte[] Pixels);

/// <summary>
/// Reads the IDX format of MNIST (raw or gzip-compressed): a 4-byte magic number
/// (0x00000801 for unsigned-byte labels, 0x00000803 for unsigned-byte images), then one big-endian
/// int32 per dimension, then the data. Every malformed file raises <see cref="InvalidDataException"/>
/// naming the file and what was expected.
/// </summary>
internal static class IdxReader
{
    /// <summary>Magic number of a one-dimensional unsigned-byte IDX file (labels).</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>Magic number of a three-dimensional unsigned-byte IDX file (images).</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Largest payload we accept (1 GiB), checked against the header before anything is allocated.</summary>
    public const long MaxPayloadBytes = 1L << 30;

    /// <summary>Largest image side we accept, in pixels.</summary>
    public const int MaxImageSide = 4096;

    /// <summary>Reads an IDX1 label file; every label must lie in <c>[0, classCount)</c>.</summary>
    public static byte[] ReadLabels(string path, int classCount = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 1);
        using var stream = OpenFile(path);
        return ReadLabels(stream, path, classCount);
    }

    /// <summary>Reads an IDX1 label stream (raw or gzip); <paramref name="name"/> is used in error messages.</summary>
    public static byte[] ReadLabels(Stream stream, string name, int classCount = 10)
    {
        using var source = Decompressed(stream, name, out long? rawLength);
        Span<byte> header = stackalloc byte[8];
        ReadHeader(source, name, header, LabelsMagic, "labels");
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        if (count <= 0) throw Bad(name, $"label count {count}, expected a positive count");
        byte[] labels = ReadPayload(source, name, header.Length, count, rawLength);
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= classCount)
                throw Bad(name, $"label {labels[i]} at index {i}, expected a label in 0-{classCount - 1}");
        }
        return labels;
    }

    /// <summary>Reads an IDX3 image file.</summary>
    public static IdxImages ReadImages(string path)
    {
        using var stream = OpenFile(path);
        return ReadImages(stream, path);
    }

    /// <summary>Reads an IDX3 image stream (raw or gzip); <paramref name="name"/> is used in error messages.</summary>
    public static IdxImages ReadImages(Stream stream, string name)
    {
        using var source = Decompressed(stream, name, out long? rawLength);
        Span<byte> header = stackalloc byte[16];
        ReadHeader(source, name, header, ImagesMagic, "images");
        int count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        int rows = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
        int columns = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
        if (count <= 0) throw Bad(name, $"image count {count}, expected a positive count");
        if (rows <= 0 || rows > MaxImageSide || columns <= 0 || columns > MaxImageSide)
            throw Bad(name, $"image size {rows}x{columns}, expected each side in 1-{MaxImageSide}");
        long total = (long)count * rows * columns;
        if (total > MaxPayloadBytes)
            throw Bad(name, $"a header claiming {count} images of {rows}x{columns} ({total} bytes), expected at most {MaxPayloadBytes} bytes");
        byte[] pixels = ReadPayload(source, name, header.Length, total, rawLength);
        return new IdxImages(count, rows, columns, pixels);
    }

    private static FileStream OpenFile(string path) => InputFile.Open(path, "an IDX file");

    // Gzip is recognised by its two magic bytes, so ".gz" naming is not required. For raw seekable
    // input the length is known up front and checked against the header before allocating.
    private static Stream Decompressed(Stream stream, string name, out long? rawLength)
    {
        rawLength = null;
        if (stream.CanSeek)
        {
            long start = stream.Position;
            int b0 = stream.ReadByte(), b1 = stream.ReadByte();
            stream.Position = start;
            if (b0 == 0x1f && b1 == 0x8b) return new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            rawLength = stream.Length - start;
            return new PrefixedStream([], stream, ownsInner: false);
        }
        var buffered = new BufferedStream(stream, 1 << 16);
        Span<byte> peek = stackalloc byte[2];
        // BufferedStream cannot un-read; peek through its buffer by reading into a pushback wrapper.
        int got = buffered.ReadAtLeast(peek, 2, throwOnEndOfStream: false);
        var prefixed = new PrefixedStream(peek[..got].ToArray(), buffered, ownsInner: true);
        if (got == 2 && peek[0] == 0x1f && peek[1] == 0x8b) return new GZipStream(prefixed, CompressionMode.Decompress);
        return prefixed;
    }

    // Fills the header and checks its magic number.
    private static void ReadHeader(Stream source, string name, Span<byte> header, int expectedMagic, string kind)
    {
        int got = ReadFully(source, name, header);
        if (got < header.Length)
            throw Bad(name, $"{got} bytes, expected an IDX {kind} header of {header.Length} bytes (file truncated?)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != expectedMagic)
            throw Bad(name, $"magic number 0x{magic:X8}, expected 0x{expectedMagic:X8} (an IDX {kind} file)");
    }

    private static byte[] ReadPayload(Stream source, string name, int headerLength, long expected, long? rawLength)
    {
        if (expected > MaxPayloadBytes)
            throw Bad(name, $"a header claiming {expected} bytes of data, expected at most {MaxPayloadBytes}");
        if (rawLength is long length && length != headerLength + expected)
        {
            throw Bad(name, length < headerLength + expected
                ? $"{length - headerLength} bytes of data, expected {expected} as the header says (file truncated?)"
                : $"{length - headerLength} bytes of data, expected {expected} as the header says (trailing bytes)");
        }
        // Compressed input: grow the buffer as data actually arrives, so a lying header cannot make
        // us allocate more than the stream really holds (plus one chunk).
        const int Chunk = 1 << 20;
        byte[] data = new byte[Math.Min(expected, rawLength is null ? Chunk : expected)];
        long filled = 0;
        while (filled < expected)
        {
            if (filled == data.Length)
                Array.Resize(ref data, (int)Math.Min(expected, (long)data.Length * 2));
            int got = ReadFully(source, name, data.AsSpan((int)filled));
            if (got == 0)
                throw Bad(name, $"{filled} bytes of data, expected {expected} as the header says (file truncated?)");
            filled += got;
        }
        Span<byte> probe = stackalloc byte[1];
        if (ReadFully(source, name, probe) != 0)
            throw Bad(name, $"more than {expected} bytes of data, expected exactly {expected} as the header says (trailing bytes)");
        return data;
    }

    private static int ReadFully(Stream source, string name, Span<byte> buffer)
    {
        try
        {
            return source.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw Bad(name, $"corrupt gzip data ({IO.Untrusted.Quote(e.Message.TrimEnd('.'), 160)}), expected a valid gzip stream");
        }
    }

    private static InvalidDataException Bad(string name, string found) => new($"{name}: {found}");

    /// <summary>
    /// A read-only stream that first replays a few already-read bytes (for sniffing non-seekable input) and
    /// closes its inner stream only if it owns it (never the caller's).
    /// </summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner, bool ownsInner) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            if (_position < prefix.Length && buffer.Length > 0)
            {
                int n = Math.Min(buffer.Length, prefix.Length - _position);
                prefix.AsSpan(_position, n).CopyTo(buffer);
                _position += n;
                return n;
            }
            return inner.Read(buffer);
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing && ownsInner) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

using System.IO.Compression;
using System.Security.Cryptography;
using DigitParity.IO;

namespace DigitParity.Data;

/// <summary>
/// Keeps a decompressed copy of each gzip IDX file in a <c>.decoded</c> folder beside it, so that a run reads
/// 47 MB of raw bytes (~30 ms) instead of inflating 10 MB of gzip (~250 ms). Each copy starts with the SHA-256 of
/// the gzip file it came from: when the source changes, the copy no longer matches and is rebuilt. Where the folder
/// cannot be written (a read-only data directory), files are simply read from the source every time.
/// </summary>
internal static class DecodedCache
{
    /// <summary>Name of the folder that holds the decoded copies.</summary>
    public const string FolderName = ".decoded";

    private static ReadOnlySpan<byte> Magic => "DPDECOD1"u8;
    private const int PrefixLength = 8 + 32;

    /// <summary>
    /// Opens <paramref name="path"/> for <see cref="IdxReader"/>: for a gzip file, a stream over its decoded copy
    /// (made now if missing or stale) positioned at the IDX header; otherwise the file itself.
    /// </summary>
    public static T Read<T>(string path, Func<Stream, string, T> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        if (!IsGzip(path)) return ReadFile(path, read);
        byte[] hash = Hash(path);
        string cached = CachePath(path);
        if (File.Exists(cached))
        {
            try
            {
                using var stream = new FileStream(cached, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                if (HasPrefix(stream, hash)) return read(stream, path);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                // A damaged copy is only a cache: fall through and rebuild it from the source.
            }
        }
        byte[] decoded = Decode(path);
        var result = read(new MemoryStream(decoded, writable: false), path); // validate before caching anything
        TryWrite(cached, hash, decoded);
        return result;
    }

    /// <summary>Where the decoded copy of <paramref name="path"/> lives.</summary>
    public static string CachePath(string path)
    {
        string full = Path.GetFullPath(path);
        string name = Path.GetFileName(full);
        if (name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) name = name[..^3];
        return Path.Combine(Path.GetDirectoryName(full) ?? ".", FolderName, name);
    }

    private static T ReadFile<T>(string path, Func<Stream, string, T> read)
    {
        using var stream = InputFile.Open(path, "an IDX file");
        return read(stream, path);
    }

    private static bool IsGzip(string path)
    {
        using var stream = InputFile.Open(path, "an IDX file");
        return stream.ReadByte() == 0x1f && stream.ReadByte() == 0x8b;
    }

    private static byte[] Hash(string path)
    {
        using var stream = InputFile.Open(path, "an IDX file");
        return SHA256.HashData(stream);
    }

    private static bool HasPrefix(Stream stream, byte[] hash)
    {
        Span<byte> prefix = stackalloc byte[PrefixLength];
        if (stream.ReadAtLeast(prefix, PrefixLength, throwOnEndOfStream: false) < PrefixLength) return false;
        return prefix[..8].SequenceEqual(Magic) && prefix[8..].SequenceEqual(hash);
    }

    // Decoded bytes, bounded like IdxReader's own limit so a gzip bomb cannot exhaust memory, and as soon as the IDX
    // header is in, by the size it declares (plus one byte, to see that more follows): a small gzip that expands far
    // beyond its header stops there, not at the 1 GiB limit.
    private static byte[] Decode(string path)
    {
        using var source = new GZipStream(InputFile.Open(path, "an IDX file"), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[1 << 16];
        long limit = IdxReader.MaxPayloadBytes + 16;
        try
        {
            int got;
            while ((got = source.Read(chunk, 0, (int)Math.Min(chunk.Length, limit + 1 - buffer.Length))) > 0)
            {
                buffer.Write(chunk, 0, got);
                if (buffer.Length >= 16) limit = Math.Min(limit, DeclaredLength(buffer.GetBuffer()));
                if (buffer.Length > limit)
                    throw new InvalidDataException(limit < IdxReader.MaxPayloadBytes + 16
                        ? $"{path}: more bytes once decompressed than the {limit:N0} its IDX header declares, expected exactly that many"
                        : $"{path}: more than {IdxReader.MaxPayloadBytes} bytes once decompressed, expected an IDX file within the limit");
            }
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: corrupt gzip data ({IO.Untrusted.Quote(e.Message.TrimEnd('.'), 160)}), expected a valid gzip stream");
        }
        return buffer.ToArray();
    }

    // Header and data bytes an IDX header (its first 16 bytes) declares; the limit when it is no IDX header (the reader
    // then says what is wrong).
    private static long DeclaredLength(byte[] header)
    {
        int magic = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header);
        long count = (uint)System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
        if (magic == IdxReader.LabelsMagic) return 8 + count;
        if (magic != IdxReader.ImagesMagic) return IdxReader.MaxPayloadBytes + 16;
        long rows = (uint)System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8));
        long columns = (uint)System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(12));
        double total = 16.0 + (double)count * rows * columns;
        return total > IdxReader.MaxPayloadBytes + 16 ? IdxReader.MaxPayloadBytes + 16 : (long)total;
    }

    private static void TryWrite(string cached, byte[] hash, byte[] decoded)
    {
        try
        {
            // A data directory marked read-only stays untouched, even for root, who could write it anyway.
            string source = Path.GetDirectoryName(Path.GetDirectoryName(cached)!)!;
            const UnixFileMode AnyWrite = UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(source) & AnyWrite) == 0) return;
            Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
            AtomicFile.Write(cached, stream =>
            {
                stream.Write(Magic);
                stream.Write(hash);
                stream.Write(decoded);
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Read-only data directory: no cache, the source is read every time.
        }
    }
}

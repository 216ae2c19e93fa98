using System.IO.Compression;
using System.Security.Cryptography;
using DigitParity.IO;

namespace DigitParity.Data;

/// <summary>
/// Keeps a decompressed copy of each gzip IDX file in the user's cache (<see cref="Directory"/>), so that a run reads
/// 47 MB of raw bytes (~30 ms) instead of inflating 10 MB of gzip (~250 ms). A copy is named by the SHA-256 of the gzip
/// file it came from and starts with it: a changed source is a new name, and the data directory itself is never
/// written (it may be read-only or shared). The cache is bounded: files over <see cref="MaxCachedBytes"/> decoded are
/// not kept, and the oldest copies go once all of them pass <see cref="MaxTotalBytes"/>. Where no cache directory can
/// be written, files are simply read from the source every time.
/// </summary>
internal static class DecodedCache
{
    /// <summary>Largest decoded file kept: 256 MiB.</summary>
    public const long MaxCachedBytes = 256L << 20;

    /// <summary>Most bytes all copies take together: 1 GiB (MNIST's four files take 55 MB).</summary>
    public const long MaxTotalBytes = 1L << 30;

    /// <summary>
    /// <c>$DIGITPARITY_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/digitparity/decoded</c>, else
    /// <c>~/.cache/digitparity/decoded</c> (the local application data folder on Windows); null when none is known.
    /// </summary>
    public static string? Directory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("DIGITPARITY_CACHE_DIR") is { Length: > 0 } set) return set;
            string? root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
                : OperatingSystem.IsWindows() ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
                : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 0 } home ? Path.Combine(home, ".cache") : null;
            return root is null ? null : Path.Combine(root, "digitparity", "decoded");
        }
    }

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
        string? cached = CachePath(hash);
        if (cached is not null && File.Exists(cached))
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
        if (cached is not null && decoded.Length <= MaxCachedBytes) TryWrite(cached, hash, decoded);
        return result;
    }

    /// <summary>Where the decoded copy of <paramref name="path"/> lives (or would); null without a cache directory.</summary>
    public static string? CachePath(string path) => CachePath(Hash(path));

    private static string? CachePath(byte[] hash) =>
        Directory is { } directory ? Path.Combine(directory, Convert.ToHexStringLower(hash) + ".idx") : null;

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
            string directory = Path.GetDirectoryName(cached)!;
            System.IO.Directory.CreateDirectory(directory);
            AtomicFile.Write(cached, stream =>
            {
                stream.Write(Magic);
                stream.Write(hash);
                stream.Write(decoded);
            });
            Evict(directory, keep: cached);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No writable cache: the source is read every time.
        }
    }

    // Removes the least recently written copies until all of them fit MaxTotalBytes (never the one just written).
    private static void Evict(string directory, string keep)
    {
        var copies = new DirectoryInfo(directory).EnumerateFiles("*.idx").OrderBy(f => f.LastWriteTimeUtc).ToList();
        long total = copies.Sum(f => f.Length);
        foreach (var copy in copies)
        {
            if (total <= MaxTotalBytes) break;
            if (copy.FullName == keep) continue;
            total -= copy.Length;
            copy.Delete();
        }
    }
}

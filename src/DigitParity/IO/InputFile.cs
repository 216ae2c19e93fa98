using System.Runtime.InteropServices;

namespace DigitParity.IO;

/// <summary>What kind of file a path names (following symbolic links).</summary>
internal enum FileKind
{
    Missing,
    Regular,
    Directory,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,

    /// <summary>The platform cannot say (not Linux x64 or arm64): treated as a regular file.</summary>
    Unknown,
}

/// <summary>
/// Every file a user names for reading goes through here. Only regular files are opened: a device, FIFO, socket or
/// directory is one clear error before anything is opened (a FIFO would block for ever, /dev/zero never ends and
/// reports a length of 0). What is read is bounded, whatever the file claims.
/// </summary>
internal static unsafe class InputFile
{
    /// <summary>Opens <paramref name="path"/> for reading; <paramref name="expected"/> ("a safetensors model") goes into the errors.</summary>
    public static FileStream Open(string path, string expected)
    {
        CheckRegular(path, expected);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InvalidDataException($"{path}: file not found, expected {expected}");
        }
        catch (UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: permission denied, expected {expected} that can be read");
        }
    }

    /// <summary>Reads all of <paramref name="path"/>, refusing it when it holds more than <paramref name="maxBytes"/> bytes.</summary>
    public static byte[] ReadAll(string path, long maxBytes, string expected)
    {
        using var stream = Open(path, expected);
        return ReadBounded(stream, maxBytes, $"{path}: more than {maxBytes:N0} bytes, expected {expected} of at most that size");
    }

    /// <summary>Reads <paramref name="stream"/> to its end, at most <paramref name="maxBytes"/> bytes (one more and <paramref name="tooLong"/> is thrown).</summary>
    public static byte[] ReadBounded(Stream stream, long maxBytes, string tooLong)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, maxBytes + 1 - buffer.Length))) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > maxBytes) throw new InvalidDataException(tooLong);
        }
        return buffer.ToArray();
    }

    /// <summary>Throws a one-line <see cref="InvalidDataException"/> unless <paramref name="path"/> is a regular file.</summary>
    public static void CheckRegular(string path, string expected)
    {
        var kind = KindOf(path);
        if (kind is FileKind.Regular or FileKind.Unknown) return;
        throw new InvalidDataException(kind == FileKind.Missing
            ? $"{path}: file not found, expected {expected}"
            : $"{path}: {Describe(kind)}, not a regular file; expected {expected}");
    }

    /// <summary>"a directory", "a character device", ...</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Directory => "a directory",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Fifo => "a named pipe (FIFO)",
        FileKind.Socket => "a socket",
        FileKind.Missing => "missing",
        _ => "a regular file",
    };

    /// <summary>The kind of file at <paramref name="path"/>, symbolic links followed.</summary>
    public static FileKind KindOf(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var portable = Directory.Exists(path) ? FileKind.Directory : File.Exists(path) ? FileKind.Unknown : FileKind.Missing;
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64)) return portable;
        // struct stat: st_mode is at byte 24 on x86-64 (after st_dev, st_ino, st_nlink) and at 16 on arm64 (after
        // st_dev, st_ino); the struct is 144 and 128 bytes there.
        byte* buffer = stackalloc byte[256];
        int result;
        try
        {
            result = Stat(path, buffer);
        }
        catch (EntryPointNotFoundException)
        {
            return portable; // glibc before 2.33 exports stat only as __xstat
        }
        if (result != 0) return FileKind.Missing;
        uint mode = *(uint*)(buffer + (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16));
        return (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            _ => FileKind.Unknown,
        };
    }

    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    private static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte* buffer);
}

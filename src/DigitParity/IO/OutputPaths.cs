namespace DigitParity.IO;

/// <summary>Checks on output paths, made before any long work starts, so that a bad path never costs a finished run.</summary>
internal static class OutputPaths
{
    /// <summary>Fails now, not after the work, when <paramref name="path"/> cannot receive <paramref name="what"/>.</summary>
    public static void CheckWritable(string path, string what)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
            throw new IOException($"{path}: is a directory, expected a file name for {what}");
        string target = AtomicFile.Target(path);
        string? directory = Path.GetDirectoryName(target);
        if (directory is null || !Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{path}: directory {directory} does not exist, expected a writable location for {what}");
        Probe(directory, path, what);
    }

    /// <summary>Fails now when <paramref name="path"/> cannot become a directory for <paramref name="what"/>; creates it.</summary>
    public static void CheckDirectory(string path, string what)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path))
            throw new IOException($"{path}: is a file, expected a directory for {what}");
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = e is UnauthorizedAccessException ? "permission denied" : e.Message;
            throw new IOException($"{path}: cannot be written ({reason}), expected a writable directory for {what}");
        }
        Probe(path, path, what);
    }

    // Creates and removes a file in the directory: a read-only mount or a directory without write permission fails
    // here, before the work, and not when its result is written.
    private static void Probe(string directory, string path, string what)
    {
        string probe = Path.Combine(directory, $".digitparity-probe.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = e is UnauthorizedAccessException ? "permission denied" : e.Message.Replace(probe, directory, StringComparison.Ordinal);
            throw new IOException($"{path}: cannot be written ({reason}), expected a writable location for {what}");
        }
    }
}

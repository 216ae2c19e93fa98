namespace DigitParity.IO;

/// <summary>Checks on output paths, made before any long work starts, so that a bad path never costs a finished run.</summary>
internal static class OutputPaths
{
    /// <summary>Fails now, not after the work, when <paramref name="path"/> cannot receive <paramref name="what"/>.</summary>
    public static void CheckWritable(string path, string what)
    {
        ArgumentNullException.ThrowIfNull(path);
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is null || !Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{path}: directory {directory} does not exist, expected a writable location for {what}");
        if (Directory.Exists(path))
            throw new IOException($"{path}: is a directory, expected a file name for {what}");
    }

    /// <summary>Fails now when <paramref name="path"/> cannot become a directory for <paramref name="what"/>; creates it.</summary>
    public static void CheckDirectory(string path, string what)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path))
            throw new IOException($"{path}: is a file, expected a directory for {what}");
        Directory.CreateDirectory(path);
    }
}

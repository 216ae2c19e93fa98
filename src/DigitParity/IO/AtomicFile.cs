namespace DigitParity.IO;

/// <summary>Writes files so that a crash or error mid-write never leaves a half-written or destroyed file.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Writes through <paramref name="write"/> into a temporary file beside <paramref name="path"/>, flushes it
    /// to disk, then renames it over <paramref name="path"/>. On failure the temporary file is removed and
    /// any previous file at <paramref name="path"/> is untouched. A symbolic link is followed: the file it points to is
    /// replaced and the link stays. A path that names something other than a regular file (a device, a FIFO, a
    /// directory) is refused with one line, since renaming over it would replace it.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Target(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{path}: directory {directory} does not exist");
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            // The error names the file asked for, not the hidden temporary one (a full disk, say).
            if (e is IOException && e is not (FileNotFoundException or DirectoryNotFoundException))
                throw new IOException($"{path}: could not be written ({e.Message.Replace(temp, "its temporary file", StringComparison.Ordinal)})", e);
            throw;
        }
    }

    /// <summary>
    /// The file that writing <paramref name="path"/> replaces: the path itself, or the final target of a symbolic link.
    /// Throws a one-line <see cref="IOException"/> when it is not a regular file.
    /// </summary>
    public static string Target(string path)
    {
        string full = Path.GetFullPath(path);
        if (new FileInfo(full).LinkTarget is not null && File.ResolveLinkTarget(full, returnFinalTarget: true) is { } target) full = target.FullName;
        var kind = InputFile.KindOf(full);
        if (kind is not (FileKind.Missing or FileKind.Regular or FileKind.Unknown))
            throw new IOException($"{path}: {InputFile.Describe(kind)}, not a regular file; expected a file to write (outputs are written whole and renamed into place)");
        return full;
    }

    /// <summary>
    /// Removes temporary files that <see cref="Write"/> left beside <paramref name="path"/> when its process was killed
    /// mid-write (their process is gone); returns how many were removed.
    /// </summary>
    public static int RemoveStale(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (directory is null || !Directory.Exists(directory)) return 0;
        int removed = 0;
        foreach (string temp in Directory.EnumerateFiles(directory, $".{Path.GetFileName(full)}.*.tmp"))
        {
            string[] parts = Path.GetFileName(temp)[(Path.GetFileName(full).Length + 2)..].Split('.');
            if (parts.Length != 3 || !int.TryParse(parts[0], out int pid) || IsAlive(pid)) continue;
            try
            {
                File.Delete(temp);
                removed++;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}

using DigitParity.IO;
namespace DigitParity.Data;

/// <summary>A text file of class names, one per non-empty line, for a dataset other than MNIST's digits.</summary>
internal static class ClassList
{
    /// <summary>Largest class-list file read.</summary>
    public const long MaxBytes = 16 << 20;

    /// <summary>The names in <paramref name="path"/>, trimmed; any problem is one <see cref="InvalidDataException"/> naming the file.</summary>
    public static string[] Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // Bounded whatever the file reports as its length (a device reports 0).
        byte[] bytes = InputFile.ReadAll(path, MaxBytes, "a class list with one class name per line");
        string[] names = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: false).GetString(bytes)
            .Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length < 2 || names.Length > 100_000)
            throw new InvalidDataException($"{path}: {names.Length} class names, expected 2-100000, one per line");
        if (names.Distinct().Count() != names.Length)
            throw new InvalidDataException($"{path}: a class name appears twice, expected distinct names");
        return names;
    }
}

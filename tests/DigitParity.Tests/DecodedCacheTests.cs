using DigitParity.Data;

namespace DigitParity.Tests;

public sealed class DecodedCacheTests
{
    [Fact]
    public void GzipFilesAreDecodedOnceThenReadFromTheCopyUntilTheSourceChanges()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-cache-").FullName;
        string source = Path.Combine(dir, "images.gz");
        File.WriteAllBytes(source, TestData.Gzip(TestData.ImagesIdx(3, 2, 2, i => (byte)i)));

        var first = DecodedCache.Read(source, IdxReader.ReadImages);
        string copy = DecodedCache.CachePath(source);
        Assert.True(File.Exists(copy));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (byte)i), first.Pixels);

        // The copy is what a second read uses: mark one of its pixels and see the mark come back.
        byte[] bytes = File.ReadAllBytes(copy);
        bytes[^1] = 200;
        File.WriteAllBytes(copy, bytes);
        Assert.Equal(200, DecodedCache.Read(source, IdxReader.ReadImages).Pixels[^1]);

        // A changed source no longer matches the copy's hash: it is decoded again and the copy rebuilt.
        File.WriteAllBytes(source, TestData.Gzip(TestData.ImagesIdx(3, 2, 2, i => (byte)(100 + i))));
        var changed = DecodedCache.Read(source, IdxReader.ReadImages);
        Assert.Equal(111, changed.Pixels[^1]);
        Assert.Equal(111, DecodedCache.Read(source, IdxReader.ReadImages).Pixels[^1]);
    }

    [Fact]
    public void ADamagedCopyIsRebuiltAndRawFilesAreNotCopied()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-cache-").FullName;
        string source = Path.Combine(dir, "labels.gz");
        File.WriteAllBytes(source, TestData.Gzip(TestData.LabelsIdx(4, 5, 6)));
        DecodedCache.Read(source, (s, n) => IdxReader.ReadLabels(s, n));
        string copy = DecodedCache.CachePath(source);
        File.WriteAllBytes(copy, File.ReadAllBytes(copy)[..45]); // truncated mid-payload
        Assert.Equal(new byte[] { 4, 5, 6 }, DecodedCache.Read(source, (s, n) => IdxReader.ReadLabels(s, n)));
        Assert.True(new FileInfo(copy).Length > 45);

        string raw = Path.Combine(dir, "raw-labels");
        File.WriteAllBytes(raw, TestData.LabelsIdx(1, 2));
        Assert.Equal(new byte[] { 1, 2 }, DecodedCache.Read(raw, (s, n) => IdxReader.ReadLabels(s, n)));
        Assert.False(File.Exists(DecodedCache.CachePath(raw)));
    }

    [Fact]
    public void AReadOnlyDataDirectoryIsLeftUntouched()
    {
        if (OperatingSystem.IsWindows()) return;
        string dir = Directory.CreateTempSubdirectory("digitparity-cache-").FullName;
        string source = Path.Combine(dir, "labels.gz");
        File.WriteAllBytes(source, TestData.Gzip(TestData.LabelsIdx(3, 1)));
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            Assert.Equal(new byte[] { 3, 1 }, DecodedCache.Read(source, (s, n) => IdxReader.ReadLabels(s, n)));
            Assert.False(Directory.Exists(Path.Combine(dir, DecodedCache.FolderName)));
        }
        finally
        {
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void ErrorsStillNameTheSourceFile()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-cache-").FullName;
        string source = Path.Combine(dir, "labels.gz");
        File.WriteAllBytes(source, TestData.Gzip(TestData.LabelsIdx(1, 12)));
        var error = Assert.Throws<InvalidDataException>(() => DecodedCache.Read(source, (s, n) => IdxReader.ReadLabels(s, n)));
        Assert.StartsWith(source + ": label 12", error.Message);
        Assert.False(File.Exists(DecodedCache.CachePath(source)));
    }
}

using DigitParity.Data;

namespace DigitParity.Tests;

public sealed class DecodedCacheTests
{
    [Fact]
    public void GzipFilesAreDecodedOnceThenReadFromTheCopyUntilTheSourceChanges()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-cache-").FullName;
        string source = Path.Combine(dir, "images.gz");
        // Copies are shared by content across runs: this run's images are its own (3 images of 2 × 2 pixels, then a
        // random 16-byte tail of 4 more images).
        byte[] tail = Guid.NewGuid().ToByteArray();
        File.WriteAllBytes(source, TestData.Gzip(TestData.ImagesIdx(7, 2, 2, i => i < 12 ? (byte)i : tail[i - 12])));

        var first = DecodedCache.Read(source, IdxReader.ReadImages);
        string copy = DecodedCache.CachePath(source)!;
        Assert.True(File.Exists(copy));
        // The copy lives in the user's cache, named by the source's hash; the data directory holds only the source.
        Assert.Equal(DecodedCache.Directory, Path.GetDirectoryName(copy));
        Assert.Equal([source], Directory.GetFileSystemEntries(dir));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (byte)i).Concat(tail), first.Pixels);

        // The copy is what a second read uses: mark one of its pixels and see the mark come back.
        byte[] bytes = File.ReadAllBytes(copy);
        bytes[^1] = 200;
        File.WriteAllBytes(copy, bytes);
        Assert.Equal(200, DecodedCache.Read(source, IdxReader.ReadImages).Pixels[^1]);

        // A changed source no longer matches the copy's hash: it is decoded again and the copy rebuilt.
        File.WriteAllBytes(source, TestData.Gzip(TestData.ImagesIdx(7, 2, 2, i => i < 27 ? (byte)(100 + i) : tail[0])));
        var changed = DecodedCache.Read(source, IdxReader.ReadImages);
        Assert.Equal(126, changed.Pixels[^2]);
        Assert.Equal(126, DecodedCache.Read(source, IdxReader.ReadImages).Pixels[^2]);
    }

    [Fact]
    public void ADamagedCopyIsRebuiltAndRawFilesAreNotCopied()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-cache-").FullName;
        string source = Path.Combine(dir, "labels.gz");
        byte[] labels = [4, 5, 6, .. Guid.NewGuid().ToByteArray().Select(b => (byte)(b % 10))];
        File.WriteAllBytes(source, TestData.Gzip(TestData.LabelsIdx(labels)));
        DecodedCache.Read(source, (s, n) => IdxReader.ReadLabels(s, n));
        string copy = DecodedCache.CachePath(source)!;
        File.WriteAllBytes(copy, File.ReadAllBytes(copy)[..45]); // truncated mid-payload
        Assert.Equal(labels, DecodedCache.Read(source, (s, n) => IdxReader.ReadLabels(s, n)));
        Assert.True(new FileInfo(copy).Length > 45);

        string raw = Path.Combine(dir, "raw-labels");
        File.WriteAllBytes(raw, TestData.LabelsIdx(1, 2));
        Assert.Equal(new byte[] { 1, 2 }, DecodedCache.Read(raw, (s, n) => IdxReader.ReadLabels(s, n)));
        Assert.False(File.Exists(DecodedCache.CachePath(raw)!));
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
            Assert.Equal([source], Directory.GetFileSystemEntries(dir));
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
        Assert.False(File.Exists(DecodedCache.CachePath(source)!));
    }
}

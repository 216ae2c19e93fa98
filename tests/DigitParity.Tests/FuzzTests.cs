using System.Buffers.Binary;
using CsCheck;
using DigitParity.Data;
using DigitParity.Fuzz;
using DigitParity.IO;

namespace DigitParity.Tests;

/// <summary>
/// The fuzz targets in the normal suite: every regression file afl-fuzz found and every seed replays cleanly, and
/// bounded property tests (CsCheck) mutate the seeds and generate inputs; the only outcomes allowed are a result or
/// our documented exception with one printable line.
/// </summary>
public sealed class FuzzTests
{
    private static string FuzzDirectory(string kind, string target) => Path.Combine(TestData.RepositoryRoot, "fuzz", kind, target);

    private static byte[][] Seeds(string target) => Directory.GetFiles(FuzzDirectory("corpus", target)).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();

    public static TheoryData<string> Targets() => new(FuzzTargets.All.Keys);

    [Theory]
    [MemberData(nameof(Targets))]
    public void RegressionFilesAndSeedsReplayCleanly(string target)
    {
        string regressions = FuzzDirectory("regressions", target);
        if (Directory.Exists(regressions)) Assert.Empty(FuzzTargets.Replay(target, regressions));
        Assert.Empty(FuzzTargets.Replay(target, FuzzDirectory("corpus", target)));
    }

    // Seeds that are hostile on purpose (cut short, expanding past their header, claiming a size they do not hold).
    private static bool Hostile(string path) => new[] { "-bomb", "-cut", "-half", "-third", "claims-" }.Any(Path.GetFileName(path).Contains);

    private static IEnumerable<(bool Hostile, byte[] Bytes)> NamedSeeds(string target) =>
        Directory.GetFiles(FuzzDirectory("corpus", target)).Order(StringComparer.Ordinal).Select(f => (Hostile(f), File.ReadAllBytes(f)));

    [Fact]
    public void SeedsAreValidInputsNotJustSurvivableOnes()
    {
        // A seed that only reaches the first check would make the fuzzer blind to everything after it; the hostile
        // seeds must be refused with the documented one-line exception.
        foreach (var (hostile, seed) in NamedSeeds("idx"))
        {
            bool images = BinaryPrimitives.ReadInt32BigEndian(seed[0] == 0x1f ? TestDataGunzip(seed) : seed) == IdxReader.ImagesMagic;
            if (hostile) Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(new MemoryStream(seed), "seed"));
            else if (images) Assert.Equal(2, IdxReader.ReadImages(new MemoryStream(seed), "seed").Count);
            else Assert.Equal(2, IdxReader.ReadLabels(new MemoryStream(seed), "seed").Length);
        }
        foreach (var (_, seed) in NamedSeeds("checkpoint")) Assert.Contains(Checkpoints.Checkpoint.Load(new MemoryStream(seed), "seed").Network.Config.InputSize, new[] { 6, 36 });
        Assert.Equal(3, NamedSeeds("statedict").Count());
        foreach (var (_, seed) in NamedSeeds("statedict"))
            Assert.Equal(36, Checkpoints.Checkpoint.LoadStateDict(new MemoryStream(seed), "seed", FuzzTargets.StateDictConfig).Network.Config.InputSize);
        foreach (var (hostile, seed) in NamedSeeds("image"))
        {
            if (hostile) Assert.Throws<InvalidDataException>(() => DigitImage.FromEncoded(seed, "seed"));
            else Assert.Equal(784, DigitImage.FromEncoded(seed, "seed").Length);
        }
        foreach (var (_, seed) in NamedSeeds("request")) FuzzTargets.Request(seed); // throws FuzzFinding on anything but a result or a problem
    }

    private static byte[] TestDataGunzip(byte[] gz)
    {
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(gz), System.IO.Compression.CompressionMode.Decompress);
        using var raw = new MemoryStream();
        gzip.CopyTo(raw);
        return raw.ToArray();
    }

    // A seed with a few random edits: overwritten bytes, a cut, an insertion; sizes and offsets in headers are hit often.
    private static Gen<byte[]> Mutated(byte[][] seeds) =>
        Gen.Select(Gen.Int[0, seeds.Length - 1], Gen.Int[1, 6], Gen.UInt, (s, edits, seed) =>
        {
            var random = new Random((int)seed);
            var bytes = seeds[s].ToList();
            for (int e = 0; e < edits && bytes.Count > 0; e++)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(5))
                {
                    case 0: bytes[at] = (byte)random.Next(256); break;
                    case 1: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                    case 2: bytes.RemoveRange(at, bytes.Count - at); break;
                    case 3: bytes.InsertRange(at, Enumerable.Range(0, random.Next(1, 16)).Select(_ => (byte)random.Next(256))); break;
                    default: bytes[at] = random.Next(2) == 0 ? (byte)0xff : (byte)0; break;
                }
            }
            return bytes.ToArray();
        });

    [Theory]
    [MemberData(nameof(Targets))]
    public void MutatedSeedsGetAResultOrOneClearError(string target)
    {
        var run = FuzzTargets.All[target];
        Mutated(Seeds(target)).Sample(run, iter: target is "image" or "request" ? 600 : 3000, threads: 1, seed: "0N0XIzNsQ0O2");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void RandomBytesGetAResultOrOneClearError(string target)
        => Gen.Byte.Array[0, 600].Sample(FuzzTargets.All[target], iter: 2000, threads: 1, seed: "0N0XIzNsQ0O2");

    [Fact]
    public void ValidIdxImagesOfAnySizeReadBackExactly()
    {
        Gen.Select(Gen.Int[1, 20], Gen.Int[1, 40], Gen.Int[1, 40], Gen.Bool, Gen.UInt).Sample((count, rows, columns, gzip, seed) =>
        {
            var random = new Random((int)seed);
            byte[] raw = TestData.ImagesIdx(count, rows, columns, _ => (byte)random.Next(256));
            var read = IdxReader.ReadImages(new MemoryStream(gzip ? TestData.Gzip(raw) : raw), "generated");
            Assert.Equal((count, rows, columns), (read.Count, read.Rows, read.Columns));
            Assert.Equal(raw[16..], read.Pixels);
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void UntrustedTextBecomesOnePrintableLine()
    {
        Gen.String[Gen.Char, 0, 300].Sample(text =>
        {
            string quoted = Untrusted.Quote(text, 80);
            Assert.DoesNotContain(quoted, char.IsControl);
            Assert.DoesNotContain(quoted, c => c is '\u2028' or '\u2029' || char.IsSurrogate(c));
            Assert.True(quoted.Length <= 80 * 6 + 3);
        }, iter: 3000, threads: 1);
        Assert.Equal("plain text", Untrusted.Quote("plain text"));
        Assert.Equal("line\\nbreak \\u001b[31mred", Untrusted.Quote("line\nbreak \u001b[31mred"));
        Assert.Equal("abc...", Untrusted.Quote("abcdef", 3));
    }
}

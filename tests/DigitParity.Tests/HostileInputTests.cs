using System.Diagnostics;
using DigitParity.Checkpoints;
using DigitParity.Cli;
using DigitParity.Data;
using DigitParity.IO;
using DigitParity.Model;
using DigitParity.Tasks;

namespace DigitParity.Tests;

/// <summary>
/// What a hostile user sends: truncated images, devices and FIFOs where files are expected, outputs that are not
/// regular files, sizes that overflow, non-finite weights and configurations that would need gigabytes. Each must be
/// one line naming the input and what was expected, with a non-zero exit, and must not hang or allocate its way out.
/// </summary>
public sealed class HostileInputTests
{
    private static (int Code, string Output, string Error) Cli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Program.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static void AssertOneLine(string error, string expected)
    {
        Assert.Single(error.Trim().Split('\n'));
        Assert.StartsWith("digitparity: error: ", error);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
    }

    private static string Fifo(string directory, string name = "fifo")
    {
        string path = Path.Combine(directory, name);
        using var mkfifo = Process.Start("mkfifo", [path])!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    // A data directory whose four MNIST files are FIFOs.
    private static string FifoData(string parent)
    {
        string dir = Directory.CreateDirectory(Path.Combine(parent, "fifo-data")).FullName;
        foreach (string name in new[] { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" }) Fifo(dir, name);
        return dir;
    }

    [Fact]
    public void TruncatedImagesAreAnErrorNotAnAnswer()
    {
        byte[] png = TestData.Png(TestData.Mnist.Test.Image(0), scale: 4);
        byte[] jpeg;
        using (var bitmap = SkiaSharp.SKBitmap.Decode(png))
        using (var image = SkiaSharp.SKImage.FromBitmap(bitmap))
        using (var data = image.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 90))
            jpeg = data.ToArray();
        Assert.Equal(DigitImage.Side * DigitImage.Side, DigitImage.FromEncoded(png, "whole.png").Length);
        // Under 100 bytes claiming 6324 x 6324 pixels: refused from its size, before anything is decoded.
        byte[] bomb = LoadTests.DecodeBomb();
        Assert.True(bomb.Length < 100);
        Assert.Equal($"bomb.png: {bomb.Length} bytes cannot hold 6324x6324 pixels (truncated file), expected a whole PNG, JPEG or BMP image",
            Assert.Throws<InvalidDataException>(() => DigitImage.FromEncoded(bomb, "bomb.png")).Message);
        foreach (var (name, bytes) in new[] { ("half.png", png[..(png.Length / 2)]), ("third.jpg", jpeg[..(jpeg.Length / 3)]) })
        {
            var error = Assert.Throws<InvalidDataException>(() => DigitImage.FromEncoded(bytes, name));
            Assert.StartsWith(name + ": ", error.Message);
        }
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        string truncated = Path.Combine(dir, "half.png");
        File.WriteAllBytes(truncated, png[..(png.Length / 2)]);
        var (code, output, stderr) = Cli("predict", "--model", Checkpoint.ShippedModelPath, truncated);
        Assert.Equal(1, code);
        Assert.DoesNotContain("digit", output);
        Assert.Contains($"{truncated}: the image data ends early (truncated file)", stderr);
    }

    [Fact]
    public void DevicesAndFifosAreRefusedBeforeTheyAreRead()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        string fifo = Fifo(dir);
        Assert.Equal(FileKind.Fifo, InputFile.KindOf(fifo));
        Assert.Equal(FileKind.CharacterDevice, InputFile.KindOf("/dev/zero"));
        Assert.Equal(FileKind.Directory, InputFile.KindOf(dir));
        Assert.Equal(FileKind.Missing, InputFile.KindOf(Path.Combine(dir, "nothing")));
        var clock = Stopwatch.StartNew();
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["predict", "--model", Checkpoint.ShippedModelPath, "/dev/zero"], "/dev/zero: a character device, not a regular file; expected a PNG, JPEG or BMP image"),
            (["predict", "--model", fifo, "x.png"], $"{fifo}: a named pipe (FIFO), not a regular file; expected a safetensors model"),
            (["predict", "--model", dir, "x.png"], $"{dir}: a directory, not a regular file; expected a safetensors model"),
            (["train", "--classes", "/dev/zero", "--data", dir], "/dev/zero: a character device, not a regular file; expected a class list"),
            (["evaluate", "--model", Checkpoint.ShippedModelPath, "--data", FifoData(dir)], "a named pipe (FIFO), not a regular file; expected an IDX file"),
        })
        {
            var (code, _, error) = Cli(args);
            Assert.NotEqual(0, code);
            AssertOneLine(error, expected);
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "a device or FIFO was read");
    }

    [Fact]
    public void OutputsThatAreNotRegularFilesAreRefusedAndLinksAreFollowed()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        string fifo = Fifo(dir);
        var error = Assert.Throws<IOException>(() => AtomicFile.Write(fifo, s => s.WriteByte(1)));
        Assert.Equal($"{fifo}: a named pipe (FIFO), not a regular file; expected a file to write (outputs are written whole and renamed into place)", error.Message);
        Assert.Equal(FileKind.Fifo, InputFile.KindOf(fifo));
        var (code, _, stderr) = Cli("train", "--epochs", "1", "--metrics", "/dev/null");
        Assert.Equal(1, code);
        AssertOneLine(stderr, "/dev/null: a character device, not a regular file");
        Assert.Equal(FileKind.CharacterDevice, InputFile.KindOf("/dev/null"));

        string target = Path.Combine(dir, "target.json"), link = Path.Combine(dir, "link.json");
        File.WriteAllText(target, "old");
        File.CreateSymbolicLink(link, target);
        AtomicFile.Write(link, s => s.Write("new"u8));
        Assert.Equal("target.json", Path.GetFileName(new FileInfo(link).LinkTarget));
        Assert.Equal("new", File.ReadAllText(target));
    }

    // A read-only file system: a tmpfs mounted read-only where this process may mount (root in CI), else /proc, which
    // takes no new files even from root.
    private static readonly Lazy<string> ReadOnlyDirectory = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-readonly-").FullName;
        try
        {
            using var mount = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
            mount.WaitForExit();
            if (mount.ExitCode == 0)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) => System.Diagnostics.Process.Start("umount", [dir])?.WaitForExit();
                return dir;
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
        return "/proc";
    });

    [Theory]
    [InlineData("--save", "model.safetensors")]
    [InlineData("--checkpoint-dir", "runs")]
    [InlineData("--metrics", "metrics.jsonl")]
    [InlineData("--report", "report")]
    public void UnwritableOutputsFailBeforeTraining(string option, string name)
    {
        string path = Path.Combine(ReadOnlyDirectory.Value, name);
        var (code, output, error) = Cli("train", option, path);
        Assert.Equal(1, code);
        Assert.DoesNotContain("Epoch", output);
        AssertOneLine(error, $"{path}: cannot be written");
    }

    [Theory]
    [InlineData("--hidden 65536,65536", "4,347,265,036 parameters, more than the 67,108,864 a network may have")]
    [InlineData("--hidden 46341,46341", "parameters, more than the 67,108,864 a network may have")]
    [InlineData("--batch-size 100000000", "batches of 100,000,000 would need")]
    [InlineData("--val-split 0.000001", "leaves an empty part")]
    [InlineData("--epochs 2000000", "epochs must be in 1-1000000")]
    public void SizesThatWouldOverflowAreOneLine(string options, string expected)
    {
        var (code, _, error) = Cli(["train", .. options.Split(' ')]);
        Assert.Equal(2, code);
        AssertOneLine(error, expected);
        Assert.DoesNotContain("(Parameter '", error);
    }

    [Fact]
    public void CheckpointsWithNonFiniteWeightsDuplicateHeadsOrHugeWorkspacesAreRefused()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(1);
        network.Parameters.Value(network.Trunk[1].Weight)[7] = float.NaN;
        string nan = Path.Combine(dir, "nan.safetensors");
        Checkpoint.Save(nan, network);
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(nan));
        Assert.Contains("tensor fc2.weight holds NaN", error.Message);

        // Heads digit and "digix" (the digit again), then "digix" renamed in the file: two heads called digit.
        var twoHeads = new MultiTaskNetwork(ModelConfig.Tutorial with { Tasks = [TaskDefinition.Digit, TaskDefinition.Digit with { Name = "digix" }] });
        string duplicate = Path.Combine(dir, "duplicate.safetensors");
        Checkpoint.Save(duplicate, twoHeads);
        byte[] bytes = File.ReadAllBytes(duplicate);
        string text = System.Text.Encoding.Latin1.GetString(bytes).Replace("digix", "digit", StringComparison.Ordinal);
        File.WriteAllBytes(duplicate, System.Text.Encoding.Latin1.GetBytes(text));
        error = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(duplicate));
        Assert.Contains("the task names must be distinct", error.Message);

        // 4,095 channels of 1 × 1 over 28 × 28: a small file whose buffers for 256 images would need gigabytes.
        var wide = new MultiTaskNetwork(ModelConfig.Tutorial with { Convolutions = [4095], Kernel = 1, Hidden = [1] });
        string huge = Path.Combine(dir, "huge.safetensors");
        Checkpoint.Save(huge, wide);
        error = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(huge));
        Assert.Contains("GiB of working memory, more than the 4 GiB limit", error.Message);
        var (code, _, stderr) = Cli("predict", "--model", huge, "x.png");
        Assert.Equal(1, code);
        AssertOneLine(stderr, "GiB of working memory");
    }

    [Fact]
    public void WeightsThatOverflowAreAnErrorNotAnAnswer()
    {
        // Finite weights (they load) large enough that the logits overflow to infinity: no probabilities to give.
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(1);
        foreach (var layer in network.Trunk) network.Parameters.Value(layer.Weight).Fill(1e30f);
        string model = Path.Combine(dir, "overflow.safetensors"), image = Path.Combine(dir, "seven.png");
        Checkpoint.Save(model, network);
        File.WriteAllBytes(image, TestData.Png(TestData.Mnist.Test.Image(0)));
        var (code, output, error) = Cli("predict", "--model", model, image);
        Assert.Equal(1, code);
        Assert.Empty(output);
        AssertOneLine(error, "outputs for image 0 are not finite numbers: its weights overflow");
    }

    [Fact]
    public void TwoRunsCannotShareACheckpointDirectory()
    {
        string data = TestData.WriteMnistSubset(200, 50, gzip: false);
        string checkpoints = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        var options = new Training.TrainingRunOptions { DataDirectory = data, CheckpointDirectory = checkpoints, Training = new Training.TrainingOptions { Epochs = 1 } };
        using (Training.TrainingRun.Prepare(options))
        {
            var error = Assert.Throws<IOException>(() => Training.TrainingRun.Prepare(options));
            Assert.Equal($"{checkpoints}: another training run is writing checkpoints here (it holds .digitparity.lock); give this run its own --checkpoint-dir, or wait for that one to end",
                error.Message);
            var (code, _, stderr) = Cli("train", "--data", data, "--epochs", "1", "--checkpoint-dir", checkpoints);
            Assert.Equal(1, code);
            AssertOneLine(stderr, "another training run is writing checkpoints here");
        }
        // Released with the run (and by the kernel when a process dies).
        using var next = Training.TrainingRun.Prepare(options);
        Assert.Equal(1, next.FirstEpoch);
    }

    [Fact]
    public void FileNamesCannotForgeOutputLines()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        string forged = Path.Combine(dir, "a\nFAKE: digit 1 (100.0 %)\u001b[31m.png");
        File.WriteAllBytes(forged, TestData.Png(TestData.Mnist.Test.Image(0), scale: 4));
        var (code, output, _) = Cli("predict", "--model", Checkpoint.ShippedModelPath, forged);
        Assert.Equal(0, code);
        Assert.DoesNotContain("\u001b", output);
        Assert.Contains("a\\nFAKE: digit 1 (100.0 %)\\u001b[31m.png:  digit 7", output);
        Assert.DoesNotContain(output.Split('\n'), line => line.StartsWith("FAKE", StringComparison.Ordinal));

        File.WriteAllText(forged, "not an image");
        (code, _, string error) = Cli("predict", "--model", Checkpoint.ShippedModelPath, forged);
        Assert.Equal(1, code);
        AssertOneLine(error, "a\\nFAKE");
    }

    [Theory]
    [InlineData("https://127.0.0.1:5079", "https needs a server certificate, and none is configured")]
    [InlineData("http://10.255.255.1:5079", "cannot listen there")]
    public void ServeWhereItCannotListenIsOneLine(string url, string expected)
    {
        var (code, _, error) = Cli("serve", "--model", Checkpoint.ShippedModelPath, "--urls", url);
        Assert.Equal(1, code);
        AssertOneLine(error, $"--urls {url}: {expected}");
    }

    [Fact]
    public void AGzipThatExpandsBeyondItsHeaderStopsAtTheDeclaredSize()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        // A header for 10 images of 28 × 28, then 64 MiB of zeros: 64 KiB of gzip.
        byte[] header = TestData.ImagesIdx(10, 28, 28)[..16];
        byte[] raw = new byte[16 + (64 << 20)];
        header.CopyTo(raw, 0);
        File.WriteAllBytes(Path.Combine(dir, "t10k-images-idx3-ubyte.gz"), TestData.Gzip(raw));
        File.WriteAllBytes(Path.Combine(dir, "t10k-labels-idx1-ubyte.gz"), TestData.Gzip(TestData.LabelsIdx(new byte[10])));
        var error = Assert.Throws<InvalidDataException>(() => MnistFiles.LoadTest(dir));
        Assert.Contains("t10k-images-idx3-ubyte.gz: more bytes once decompressed than the 7,856 its IDX header declares", error.Message);
    }

    // Sends raw bytes to a real server on loopback and returns everything it answers until it closes the connection.
    private static async Task<string> Exchange(string request)
    {
        using var service = new Server.PredictionService(TestData.Trained.Value, "test.safetensors");
        await using var app = Server.DigitServer.Build(service, ["http://127.0.0.1:0"]);
        await app.StartAsync();
        var uri = new Uri(app.Urls.Single());
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(uri.Host, uri.Port);
        await using var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy); // Kestrel closes the connection after an error reply
        return System.Text.Encoding.UTF8.GetString(copy.ToArray());
    }

    [Fact]
    public async Task AMalformedChunkedBodyIs400WithTheUsualHeaders()
    {
        string response = await Exchange(
            "POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", response);
        Assert.Contains("Content-Type: application/problem+json", response);
        Assert.Contains("X-Content-Type-Options: nosniff", response);
        Assert.Contains("Content-Security-Policy: default-src 'self'", response);
    }

    // Requests Kestrel refuses before the application sees them: a malformed request line, one over 8 KiB, headers over 32 KiB.
    public static TheoryData<string, int> UnparsableRequests() => new()
    {
        { "GARBAGE\r\n\r\n", 400 },
        { "GET /" + new string('a', 9000) + " HTTP/1.1\r\nHost: localhost\r\n\r\n", 414 },
        { "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + new string('a', 40_000) + "\r\n\r\n", 431 },
    };

    [Theory]
    [MemberData(nameof(UnparsableRequests))]
    public async Task KestrelsOwnErrorRepliesAreProblemJsonWithTheUsualHeaders(string request, int status)
    {
        // A valid request first: replies on a kept-alive connection pass through the middleware untouched.
        string replies = await Exchange("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" + request);

        int second = replies.IndexOf("HTTP/1.1 ", 1, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK", replies);
        Assert.Contains("{\"status\":\"ok\"}", replies[..second]);
        string reply = replies[second..];
        int split = reply.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        string headers = reply[..split], body = reply[(split + 4)..];
        Assert.StartsWith($"HTTP/1.1 {status} ", headers);
        Assert.Contains("Content-Type: application/problem+json", headers);
        Assert.Contains($"Content-Length: {System.Text.Encoding.UTF8.GetByteCount(body)}", headers);
        Assert.Contains("X-Content-Type-Options: nosniff", headers);
        Assert.Contains("Content-Security-Policy: default-src 'self'", headers);
        Assert.DoesNotContain("Content-Length: 0", headers);
        using var problem = System.Text.Json.JsonDocument.Parse(body);
        Assert.Equal(status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("detail").GetString()));
    }

    [Fact]
    public void AModelOfAnotherImageSizeIsRefusedByPredictAndServe()
    {
        string dir = Directory.CreateTempSubdirectory("digitparity-hostile-").FullName;
        var small = new MultiTaskNetwork(ModelConfig.Tutorial with { InputSize = 4 });
        string model = Path.Combine(dir, "two-by-two.safetensors");
        Checkpoint.Save(model, small);
        string image = Path.Combine(dir, "seven.png");
        File.WriteAllBytes(image, TestData.Png(TestData.Mnist.Test.Image(0)));
        foreach (string command in new[] { "predict", "serve" })
        {
            var (code, _, error) = command == "predict" ? Cli("predict", "--model", model, image) : Cli("serve", "--model", model, "--urls", "http://127.0.0.1:0");
            Assert.Equal(1, code);
            AssertOneLine(error, $"{model}: a model of 4 input pixels, expected 784 (28 x 28)");
        }
    }
}

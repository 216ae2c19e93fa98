using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net;
using System.Text;
using DigitParity.Checkpoints;

namespace DigitParity.Tests;

/// <summary>
/// A bounded load test of a real <c>digitparity serve</c> process on loopback: many concurrent clients posting MNIST
/// PNGs; every answer must equal the one-at-a-time answer for that image; then a burst of malformed, oversized and
/// wrong-type requests; then the server must still answer correctly. 200 clients for 10 s by default
/// (DIGITPARITY_LOAD_CLIENTS, DIGITPARITY_LOAD_SECONDS for longer runs; DIGITPARITY_LOAD_HOSTILE=0 leaves out the one
/// hostile request in ten, for a clean run to compare with). Figures go to TestResults/load.txt.
/// </summary>
public sealed class LoadTests
{
    private static int Setting(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) ? v : fallback;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task ConcurrentClientsGetTheSameAnswersAsOneAtATimeAndBadRequestsDoNotHurt()
    {
        int clients = Setting("DIGITPARITY_LOAD_CLIENTS", 200), seconds = Setting("DIGITPARITY_LOAD_SECONDS", 10);
        bool withHostile = Setting("DIGITPARITY_LOAD_HOSTILE", 1) != 0; // 0: valid requests only, the clean run to compare with
        string model = Path.Combine(Directory.CreateTempSubdirectory("digitparity-load-").FullName, "model.safetensors");
        Checkpoint.Save(model, TestData.Trained.Value);
        string url = $"http://127.0.0.1:{FreePort()}";
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "DigitParity.Cli.dll"), "serve", "--model", model, "--urls", url }) start.ArgumentList.Add(arg);
        using var server = Process.Start(start)!;
        _ = server.StandardError.ReadToEndAsync();
        try
        {
            string banner = await server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) ?? "";
            Assert.StartsWith($"Serving {model}", banner);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            {
                BaseAddress = new Uri(url),
                Timeout = TimeSpan.FromSeconds(60),
            };

            // One at a time: the expected answer of every image.
            var pngs = Enumerable.Range(0, 50).Select(i => TestData.Png(TestData.Mnist.Test.Image(i), scale: 2)).ToArray();
            async Task<(HttpStatusCode Status, string Body)> Predict(byte[] png)
            {
                using var content = new ByteArrayContent(png);
                content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
                using var response = await http.PostAsync("/api/predict", content);
                return (response.StatusCode, await response.Content.ReadAsStringAsync());
            }
            var expected = new string[pngs.Length];
            for (int i = 0; i < pngs.Length; i++)
            {
                var (status, body) = await Predict(pngs[i]);
                Assert.Equal(HttpStatusCode.OK, status);
                expected[i] = body;
            }

            // Load: every client posts images in its own order until the time is up; one request in ten is hostile (a
            // decode bomb, a truncated image, a malformed body), which must be refused without hurting the others.
            var hostile = new (string Type, byte[] Body)[]
            {
                ("image/png", DecodeBomb()),
                ("image/png", pngs[0][..(pngs[0].Length / 2)]),
                ("application/json", Encoding.UTF8.GetBytes("{\"pixels\": [0.5, ")),
            };
            var hostileAnswers = new ConcurrentBag<HttpStatusCode>();
            var latencies = new ConcurrentBag<double>();
            var failures = new ConcurrentBag<string>();
            var clock = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(seconds);
            await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
            {
                for (int n = c; clock.Elapsed < deadline; n += 7)
                {
                    int i = n % pngs.Length;
                    if (withHostile && n % 10 == 3)
                    {
                        var (type, body) = hostile[n % hostile.Length];
                        using var content = new ByteArrayContent(body);
                        content.Headers.ContentType = new MediaTypeHeaderValue(type);
                        try
                        {
                            using var response = await http.PostAsync("/api/predict", content);
                            hostileAnswers.Add(response.StatusCode);
                        }
                        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                        {
                            failures.Add($"hostile {type}: {e.GetType().Name} {e.Message}");
                        }
                        continue;
                    }
                    long t0 = Stopwatch.GetTimestamp();
                    try
                    {
                        var (status, body) = await Predict(pngs[i]);
                        latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                        if (status != HttpStatusCode.OK || body != expected[i]) failures.Add($"image {i}: {(int)status} {body[..Math.Min(body.Length, 80)]}");
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        failures.Add($"image {i}: {e.GetType().Name} {e.Message}");
                    }
                }
            })));
            double elapsed = clock.Elapsed.TotalSeconds;
            var sorted = latencies.Order().ToArray();
            double Percentile(double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
            string figures = string.Create(CultureInfo.InvariantCulture,
                $"{clients} clients for {elapsed:0.0} s on loopback: {sorted.Length} valid requests, {failures.Count} failed, {sorted.Length / elapsed:0} requests/s, latency p50 {Percentile(0.50):0.0} ms, p99 {Percentile(0.99):0.0} ms, max {sorted[^1]:0.0} ms; {hostileAnswers.Count} hostile among them ({hostileAnswers.Count(s => s == HttpStatusCode.BadRequest)} answered 400, {hostileAnswers.Count(s => s == HttpStatusCode.ServiceUnavailable)} 503); server peak resident memory {PeakResidentMiB(server.Id)} MiB");

            // A burst of bad requests, all at once; each must get its status, none may break the server.
            var bad = new (string Type, byte[] Body, HttpStatusCode Status)[]
            {
                ("application/json", Encoding.UTF8.GetBytes("{\"pixels\": [0.5, "), HttpStatusCode.BadRequest),
                ("image/png", Encoding.UTF8.GetBytes("not a png at all"), HttpStatusCode.BadRequest),
                ("text/plain", Encoding.UTF8.GetBytes("seven"), HttpStatusCode.UnsupportedMediaType),
                ("image/png", new byte[5 << 20], HttpStatusCode.RequestEntityTooLarge),
            };
            var burst = await Task.WhenAll(Enumerable.Range(0, 400).Select(async k =>
            {
                var (type, body, status) = bad[k % bad.Length];
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue(type);
                try
                {
                    using var response = await http.PostAsync("/api/predict", content);
                    return response.StatusCode == status && response.Content.Headers.ContentType?.MediaType == "application/problem+json"
                        ? "" : $"{type}: {(int)response.StatusCode} {response.Content.Headers.ContentType?.MediaType}, expected {(int)status}";
                }
                catch (HttpRequestException e)
                {
                    // Kestrel may close the connection of a 413 before the whole body is sent; that is a refusal too.
                    return status == HttpStatusCode.RequestEntityTooLarge ? "" : $"{type}: {e.Message}";
                }
            }));

            // Still healthy, still right.
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
            for (int i = 0; i < pngs.Length; i++) Assert.Equal(expected[i], (await Predict(pngs[i])).Body);

            string results = Path.Combine(TestData.RepositoryRoot, "TestResults");
            Directory.CreateDirectory(results);
            File.WriteAllText(Path.Combine(results, "load.txt"), $"{figures}\nburst: {burst.Length} bad requests, {burst.Count(r => r.Length == 0)} refused with the right status\n");
            Assert.True(failures.IsEmpty, $"{figures}; first failures: {string.Join("; ", failures.Take(3))}");
            Assert.All(hostileAnswers, status => Assert.Contains(status, new[] { HttpStatusCode.BadRequest, HttpStatusCode.ServiceUnavailable }));
            Assert.True(sorted.Length > clients, figures);
            Assert.All(burst, Assert.Empty);
        }
        finally
        {
            server.Kill();
            server.WaitForExit();
        }
    }

    // The server's peak resident set (VmHWM), reported with the figures.
    private static string PeakResidentMiB(int pid)
    {
        string status = $"/proc/{pid}/status";
        if (!File.Exists(status)) return "?";
        string? line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? "?" : (long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024).ToString(CultureInfo.InvariantCulture);
    }

    // A PNG of under 100 bytes whose header claims 6324 × 6324 gray pixels (under the 40 M-pixel limit) but whose data
    // holds one row: a decoder allocates the whole image before it finds the data short.
    internal static byte[] DecodeBomb()
    {
        const int side = 6324;
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, side);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), side);
        header[8] = 8; // bit depth; colour type 0 (gray), no interlace
        Chunk(png, "IHDR", header);
        using (var row = new MemoryStream())
        {
            using (var zlib = new System.IO.Compression.ZLibStream(row, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
                zlib.Write(new byte[1 + side]); // filter byte and one row of zeros
            Chunk(png, "IDAT", row.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
        png.Write(typed);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        png.Write(word);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}

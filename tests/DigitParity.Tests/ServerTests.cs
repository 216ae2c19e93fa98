using System.Net.Http.Headers;
using System.Net;
using System.Text.Json;
using System.Text;
using DigitParity.Data;
using DigitParity.Inference;
using DigitParity.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace DigitParity.Tests;

/// <summary>The web API through the ASP.NET test host: answers equal the library's, every error is problem JSON.</summary>
public sealed class ServerTests : IAsyncLifetime
{
    private PredictionService _service = null!;
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _service = new PredictionService(TestData.Trained.Value, "test.safetensors");
        _app = DigitServer.Build(_service, ["http://127.0.0.1:0"], b => b.WebHost.UseTestServer());
        await _app.StartAsync();
        _client = _app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
        _service.Dispose();
    }

    private static ByteArrayContent Body(byte[] bytes, string? contentType)
    {
        var content = new ByteArrayContent(bytes);
        if (contentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return content;
    }

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    // What the library predicts for MNIST image `index`; as a PNG it first goes through the MNIST-style preprocessing.
    private static Prediction Expected(int index, bool asPng = true)
    {
        using var predictor = new Predictor(TestData.Trained.Value);
        byte[] image = TestData.Mnist.Test.Image(index).ToArray();
        return predictor.Predict([asPng ? DigitImage.FromEncoded(TestData.Png(image), "png") : image])[0];
    }

    private static void AssertSame(Prediction expected, JsonElement actual)
    {
        Assert.Equal(expected.HeadsAgree, actual.GetProperty("heads_agree").GetBoolean());
        foreach (var task in expected.Tasks)
        {
            var head = actual.GetProperty("tasks").GetProperty(task.Task);
            Assert.Equal(task.Label, head.GetProperty("label").GetInt32());
            Assert.Equal(task.Name, head.GetProperty("name").GetString());
            Assert.Equal(task.Probabilities, head.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToArray());
        }
    }

    [Fact]
    public async Task HealthAndModelDescribeTheServedNetwork()
    {
        var health = await _client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", Json(await health.Content.ReadAsStringAsync()).GetProperty("status").GetString());
        var model = Json(await _client.GetStringAsync("/api/model"));
        Assert.Equal(["digit", "parity"], model.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(["even", "odd"], model.GetProperty("tasks")[1].GetProperty("classes").EnumerateArray().Select(c => c.GetString()));
    }

    [Fact]
    public async Task ThePageAndItsAssetsAreServedByUsWithNothingFromElsewhere()
    {
        var page = await _client.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<canvas id=\"pad\"", html);
        Assert.Contains("id=\"clear\"", html);
        foreach (string asset in new[] { "/app.js", "/app.css" })
        {
            var response = await _client.GetAsync(asset);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains(asset, html);
            Assert.DoesNotContain("//", (await response.Content.ReadAsStringAsync()).Replace("// ", "").Replace("\"//", ""), StringComparison.Ordinal);
        }
        Assert.DoesNotContain("http", html.Replace("http-equiv", ""), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task PngBodiesRawOrMultipartPredictAsTheLibraryDoes()
    {
        for (int i = 0; i < 10; i++)
        {
            byte[] png = TestData.Png(TestData.Mnist.Test.Image(i));
            var raw = await _client.PostAsync("/api/predict", Body(png, "image/png"));
            Assert.Equal(HttpStatusCode.OK, raw.StatusCode);
            AssertSame(Expected(i), Json(await raw.Content.ReadAsStringAsync()));

            using var form = new MultipartFormDataContent { { Body(png, "image/png"), "image", $"digit-{i}.png" } };
            var multipart = await _client.PostAsync("/api/predict", form);
            Assert.Equal(HttpStatusCode.OK, multipart.StatusCode);
            AssertSame(Expected(i), Json(await multipart.Content.ReadAsStringAsync()));
        }
    }

    [Fact]
    public async Task JsonPixelsAreTheNetworksInput()
    {
        byte[] image = TestData.Mnist.Test.Image(3).ToArray();
        string body = JsonSerializer.Serialize(new { pixels = image.Select(p => p / 255f) });
        var response = await _client.PostAsync("/api/predict", Body(Encoding.UTF8.GetBytes(body), "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertSame(Expected(3, asPng: false), Json(await response.Content.ReadAsStringAsync()));
    }

    public static TheoryData<string, string?, byte[], int, string> BadRequests()
    {
        byte[] png = TestData.Png(TestData.Mnist.Test.Image(0));
        byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
        string Pixels(int count, string value) => "{\"pixels\":[" + string.Join(",", Enumerable.Repeat(value, count)) + "]}";
        return new()
        {
            { "text body", "text/plain", Utf8("seven"), 415, "text/plain" },
            { "no content type", null, png, 415, "Content-Type" },
            { "garbage as PNG", "image/png", Utf8("definitely not a PNG file"), 400, "not an image" },
            { "truncated PNG", "image/png", png[..40], 400, "request body" },
            { "empty image body", "image/png", [], 400, "empty" },
            { "blank image", "image/png", TestData.Png(new byte[784]), 400, "no ink" },
            { "broken JSON", "application/json", Utf8("{\"pixels\": [0.1, "), 400, "not valid JSON" },
            { "JSON without pixels", "application/json", Utf8("{\"image\": []}"), 400, "pixels" },
            { "JSON array", "application/json", Utf8("[1, 2, 3]"), 400, "pixels" },
            { "too few pixels", "application/json", Utf8(Pixels(783, "0.5")), 400, "783 values; expected 784" },
            { "pixel above 1", "application/json", Utf8(Pixels(784, "255")), 400, "expected a number in 0..1" },
            { "pixel not a number", "application/json", Utf8(Pixels(784, "\"x\"")), 400, "expected a number in 0..1" },
            { "multipart without boundary", "multipart/form-data", png, 400, "boundary" },
            { "multipart without a file", "multipart/form-data; boundary=b", Utf8("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n"), 400, "no file" },
            { "multipart cut short", "multipart/form-data; boundary=b", Utf8("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\n\r\n12"), 400, "multipart" },
        };
    }

    // JSON pixels are read in one pass unless the body is not exactly what the API asks for; the document's reading is
    // the oracle: the same values to the bit, or the same refusal.
    [Theory]
    [InlineData("{\"pixels\":[P]}")]
    [InlineData(" { \"pixels\" :\t[P] }\r\n")]
    [InlineData(" {\"id\": {\"a\": [1, {\"b\": null}]}, \"pixels\": [P], \"label\": \"7\"}\n")]
    [InlineData("{\"pixels\":[P], \"pixels\":[P]}")]
    [InlineData("{\"pixels\":[P]} x")]
    [InlineData("{\"pixels\":[P]}{}")]
    [InlineData("{\"pixels\":[P,0.5]}")]
    [InlineData("{\"pixels\":[P,]}")]
    [InlineData("{\"pixels\":[[P]]}")]
    [InlineData("{\"pixels\":[-0,P]}")]
    [InlineData("{\"pixels\":[1e-50,P]}")]
    [InlineData("{\"pixels\":[1.0000001,P]}")]
    [InlineData("{\"pixels\":[1e400,P]}")]
    [InlineData("{\"pixels\":[null,P]}")]
    [InlineData("{\"pixels\":[\"0.5\",P]}")]
    [InlineData("{\"Pixels\":[P]}")]
    [InlineData("{\"pix\\u0065ls\":[P]}")]
    [InlineData("[P]")]
    public void JsonPixelsReadInOnePassAsTheDocumentReadsThem(string template)
    {
        var rng = new Random(3);
        string pixels = string.Join(",", Enumerable.Range(0, 783).Select(_ => (rng.Next(256) / 255.0).ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        // 783 values, and the template adds or leaves out the 784th.
        byte[] body = Encoding.UTF8.GetBytes(template.Replace("P", pixels + ",0.25"));
        float[]? expected = null, actual = null;
        string? expectedError = null, actualError = null;
        try { expected = Server.PredictRequest.DocumentPixels(body, 784); } catch (Server.RequestProblem e) { expectedError = e.Message; }
        try { actual = Server.PredictRequest.ParsePixels(body, 784); } catch (Server.RequestProblem e) { actualError = e.Message; }
        Assert.Equal(expectedError, actualError);
        Assert.Equal(expected, actual);
        // The bodies the API asks for take the one pass; the plain one is scanned by hand.
        if (template == "{\"pixels\":[P]}" || template.StartsWith(" {\"id\"", StringComparison.Ordinal))
        {
            Assert.NotNull(expected);
            Assert.Equal(expected, Server.PredictRequest.TryReadPixels(body, 784));
        }
        float[]? scanned = Server.PixelScanner.TryScan(body, 784);
        Assert.Equal(template is "{\"pixels\":[P]}" or " { \"pixels\" :\t[P] }\r\n", scanned is not null);
        if (scanned is not null) Assert.Equal(expected, scanned);
    }

    // The scanner's numbers against float.Parse (what Utf8JsonReader.TryGetSingle gives): every value with 4 decimals
    // in 0..1 in each way JSON writes it, every k / 255 as "R" and rounded to 6 places, and random numbers of up to 20
    // digits with up to 12 decimals; and the texts JSON does not allow, or that it leaves to the reader, refused.
    [Fact]
    public void ScannedNumbersAreFloatParseBits()
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var texts = new List<string>();
        for (int i = 0; i <= 10000; i++) texts.Add((i / 10000.0).ToString("0.0000", inv));
        for (int i = 0; i <= 10000; i += 7) texts.Add((i / 10000.0).ToString(inv));
        for (int k = 0; k < 256; k++) { texts.Add((k / 255.0).ToString("R", inv)); texts.Add((k / 255f).ToString("R", inv)); texts.Add(Math.Round(k / 255.0, 6).ToString(inv)); }
        var rng = new Random(7);
        for (int i = 0; i < 200_000; i++)
        {
            string whole = rng.Next(4) == 0 ? "0" : rng.NextInt64(1, 10_000_000_000).ToString(inv);
            int decimals = rng.Next(13);
            string text = (rng.Next(8) == 0 ? "-" : "") + whole + (decimals == 0 ? "" : "." + string.Concat(Enumerable.Range(0, decimals).Select(_ => (char)('0' + rng.Next(10)))));
            texts.Add(text);
        }
        texts.AddRange(["-0", "0", "1", "1.0", "0.00000000001", "16777217", "16777216.5", "0.16777217", "123456789012345678901234567890", "3.4028236e38"[..9] + "0000000000000000000000000000000"]);
        foreach (string text in texts)
        {
            byte[] bytes = Encoding.ASCII.GetBytes(text + ",");
            int p = 0;
            Assert.True(Server.PixelScanner.TryNumber(bytes, ref p, out float v), text);
            Assert.Equal(text.Length, p);
            Assert.True(BitConverter.SingleToInt32Bits(float.Parse(text, inv)) == BitConverter.SingleToInt32Bits(v), text);
        }
        foreach (string text in new[] { "", "-", "01", "-01", "1.", ".5", "1.e3", "1e3", "1E-3", "0.5e1", "+1", "1x", "NaN", "Infinity", "0x1" })
        {
            byte[] bytes = Encoding.ASCII.GetBytes(text);
            int p = 0;
            bool read = Server.PixelScanner.TryNumber(bytes, ref p, out _);
            Assert.False(read && p == bytes.Length, text);
        }
    }

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequestsGetProblemJsonNamingTheProblem(string what, string? contentType, byte[] body, int status, string detail)
    {
        foreach (string path in new[] { "/api/predict", "/api/explain" })
        {
            var response = await _client.PostAsync(path, Body(body, contentType));
            Assert.True(status == (int)response.StatusCode, $"{path} {what}: {(int)response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = Json(await response.Content.ReadAsStringAsync());
            Assert.Equal(status, problem.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
            Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task ExplainAnswersAsTheLibraryWithTheInputAndASaliencyMapPerHead()
    {
        byte[] image = TestData.Mnist.Test.Image(3).ToArray();
        using var predictor = new Predictor(TestData.Trained.Value);
        var expected = predictor.Explain(DigitImage.FromEncoded(TestData.Png(image), "png"));
        var response = await _client.PostAsync("/api/explain", Body(TestData.Png(image), "image/png"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = Json(await response.Content.ReadAsStringAsync());
        AssertSame(expected.Prediction, json);
        Assert.Equal(expected.Input.Select(v => MathF.Round(v, 6)), json.GetProperty("input").EnumerateArray().Select(v => v.GetSingle()));
        foreach (var map in expected.Heads)
        {
            var head = json.GetProperty("tasks").GetProperty(map.Task);
            Assert.Equal(map.Values.Select(v => MathF.Round(v, 6)), head.GetProperty("saliency").EnumerateArray().Select(v => v.GetSingle()));
            Assert.Equal(map.Peak, head.GetProperty("saliency_peak").GetSingle());
        }
        // JSON pixels explain the same way; the prediction part equals /api/predict's.
        string pixels = "{\"pixels\": [" + string.Join(",", expected.Input.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]}";
        var fromJson = Json(await (await _client.PostAsync("/api/explain", Body(Encoding.UTF8.GetBytes(pixels), "application/json"))).Content.ReadAsStringAsync());
        var predicted = Json(await (await _client.PostAsync("/api/predict", Body(Encoding.UTF8.GetBytes(pixels), "application/json"))).Content.ReadAsStringAsync());
        AssertSame(expected.Prediction, fromJson);
        AssertSame(expected.Prediction, predicted);
    }

    [Fact]
    public async Task BodiesOverTheLimitGet413WithOrWithoutALength()
    {
        byte[] big = new byte[DigitServer.MaxBodyBytes + 1];
        var declared = await _client.PostAsync("/api/predict", Body(big, "image/png"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal("application/problem+json", declared.Content.Headers.ContentType?.MediaType);

        // Streamed without a Content-Length: refused once the bytes read pass the limit.
        var streamed = new StreamContent(new MemoryStream(big));
        streamed.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/predict") { Content = streamed };
        request.Headers.TransferEncodingChunked = true;
        var response = await _client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains($"{DigitServer.MaxBodyBytes} bytes", Json(await response.Content.ReadAsStringAsync()).GetProperty("detail").GetString());

        // Exactly at the limit is not refused for its size (it is no image, so 400).
        var atLimit = await _client.PostAsync("/api/predict", Body(new byte[DigitServer.MaxBodyBytes], "image/png"));
        Assert.Equal(HttpStatusCode.BadRequest, atLimit.StatusCode);
    }

    [Fact]
    public async Task UnknownPathsAndMethodsAreProblemJsonToo()
    {
        var missing = await _client.GetAsync("/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        var wrongMethod = await _client.GetAsync("/api/predict");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Equal("application/problem+json", wrongMethod.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ConcurrentPredictionsEqualOneAtATime()
    {
        const int n = 48;
        var pngs = Enumerable.Range(0, n).Select(i => TestData.Png(TestData.Mnist.Test.Image(i))).ToArray();
        async Task<string> Ask(int i) => await (await _client.PostAsync("/api/predict", Body(pngs[i], "image/png"))).Content.ReadAsStringAsync();
        var sequential = new string[n];
        for (int i = 0; i < n; i++) sequential[i] = await Ask(i);
        var concurrent = await Task.WhenAll(Enumerable.Range(0, n).Select(i => Task.Run(() => Ask(i))));
        Assert.Equal(sequential, concurrent);
        for (int i = 0; i < n; i++) AssertSame(Expected(i), Json(concurrent[i]));
    }

    [Fact]
    public async Task AFullDecodeBudgetAnswers503WithRetryAfterAndOtherFormatsAre400()
    {
        // A budget with no room: every image is turned away before it is decoded; JSON pixels need no decoding.
        await using var busy = DigitServer.Build(_service, ["http://127.0.0.1:0"], b =>
        {
            b.WebHost.UseTestServer();
            b.Services.AddSingleton(new DecodeBudget(0, 0));
        });
        await busy.StartAsync();
        using var client = busy.GetTestClient();
        var response = await client.PostAsync("/api/predict", Body(TestData.Png(TestData.Mnist.Test.Image(0).ToArray()), "image/png"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("too many images are being decoded now", await response.Content.ReadAsStringAsync());
        string pixels = "{\"pixels\":[" + string.Join(",", Enumerable.Repeat("0", 784)) + "]}";
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/predict", Body(Encoding.UTF8.GetBytes(pixels), "application/json"))).StatusCode);

        // A 1 × 1 GIF: decodable, but not one of the documented formats.
        byte[] gif = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");
        response = await _client.PostAsync("/api/predict", Body(gif, "application/octet-stream"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("a Gif image, expected a PNG, JPEG or BMP file", await response.Content.ReadAsStringAsync());
        Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task HeadIsAnsweredWhereGetIs()
    {
        foreach (string path in new[] { "/", "/app.js", "/healthz", "/api/model" })
        {
            var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await _client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/predict"))).StatusCode);
    }

    [Fact]
    public async Task ConcurrentRequestsAreBatchedAndAnswerAsOneAtATime()
    {
        // One loop, batches of up to 16 gathered for up to 5 ms: 200 requests at once must share forward passes.
        using var batching = new PredictionService(TestData.Trained.Value, "test.safetensors", maxBatch: 16, maxWait: TimeSpan.FromMilliseconds(5), loops: 1);
        var images = Enumerable.Range(0, 200).Select(i => TestData.Mnist.Test.Image(i).ToArray()).ToArray();
        var answers = await Task.WhenAll(images.Select(image => Task.Run(() => batching.PredictAsync(image))));
        Assert.InRange(batching.Batches, 200 / 16, 199);
        using var predictor = new Predictor(TestData.Trained.Value, maxBatch: 1);
        for (int i = 0; i < images.Length; i++)
        {
            var alone = predictor.Predict(images[i]);
            foreach (var task in alone.Tasks) Assert.Equal(task.Probabilities, answers[i][task.Task].Probabilities);
            Assert.Equal(alone.Score, answers[i].Score);
        }
        // A malformed request in the middle of a batch changes nobody else's answer and is refused on its own.
        Assert.Throws<ArgumentException>(() => batching.Predict(new float[784].Select(_ => 2f).ToArray()));
    }
}

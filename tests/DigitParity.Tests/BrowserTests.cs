using DigitParity.Server;
using Microsoft.AspNetCore.Builder;
using PuppeteerSharp;
using PuppeteerSharp.Input;

namespace DigitParity.Tests;

/// <summary>
/// The drawing page in a real headless browser (Debian's Chromium at /usr/bin/chromium, driven by PuppeteerSharp):
/// digits drawn stroke by stroke with mouse events must show the right digit and parity. Screenshots go to
/// TestResults/browser/.
/// </summary>
public sealed class BrowserTests
{
    private const string Chromium = "/usr/bin/chromium";

    // Strokes in canvas coordinates (the canvas is 280 x 280).
    private static readonly (string Digit, string Parity, (double X, double Y)[][] Strokes)[] Drawings =
    [
        ("1", "odd", [[(150, 40), (146, 120), (142, 240)]]),
        ("0", "even", [Enumerable.Range(0, 41).Select(i => (140 + 65 * Math.Sin(i * Math.PI / 20), 140 - 100 * Math.Cos(i * Math.PI / 20))).ToArray()]),
        ("7", "odd", [[(70, 50), (210, 50), (120, 245)]]),
    ];

    [Fact]
    public async Task DigitsDrawnWithTheMouseShowTheirDigitAndParity()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install it with 'apt-get install chromium' (.ci/run does)");
        using var service = new PredictionService(TestData.Trained.Value, "test.safetensors");
        await using var app = DigitServer.Build(service, ["http://127.0.0.1:0"]);
        await app.StartAsync();
        string url = app.Urls.Single();

        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        await using var page = await browser.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = 900, Height = 640 });
        await page.GoToAsync(url);
        await page.WaitForSelectorAsync("[data-task=parity] .row");
        var pad = await page.QuerySelectorAsync("#pad");
        var box = await pad.BoundingBoxAsync();
        string shots = Path.Combine(TestData.RepositoryRoot, "TestResults", "browser");
        Directory.CreateDirectory(shots);

        foreach (var (digit, parity, strokes) in Drawings)
        {
            await page.ClickAsync("#clear");
            foreach (var stroke in strokes)
            {
                await page.Mouse.MoveAsync(box.X + (decimal)stroke[0].X, box.Y + (decimal)stroke[0].Y);
                await page.Mouse.DownAsync();
                for (int i = 1; i < stroke.Length; i++)
                    await page.Mouse.MoveAsync(box.X + (decimal)stroke[i].X, box.Y + (decimal)stroke[i].Y, new MoveOptions { Steps = 8 });
                await page.Mouse.UpAsync();
            }
            await page.WaitForFunctionAsync("() => !document.body.classList.contains('busy') && document.querySelector('[data-task=digit] .label').textContent !== ''");
            string shownDigit = await page.EvaluateExpressionAsync<string>("document.querySelector('[data-task=digit] .label').textContent");
            string shownParity = await page.EvaluateExpressionAsync<string>("document.querySelector('[data-task=parity] .label').textContent");
            string answer = await page.EvaluateExpressionAsync<string>("document.getElementById('answer').textContent");
            await page.ScreenshotAsync(Path.Combine(shots, $"drawn-{digit}.png"));
            Assert.Equal((digit, parity), (shownDigit, shownParity));
            Assert.Equal($"{digit} · {parity}", answer);
        }
    }
}

using DigitParity.Server;
using PuppeteerSharp;

namespace DigitParity.Tests;

/// <summary>
/// The drawing page in a real headless browser (Debian's Chromium at /usr/bin/chromium, driven by PuppeteerSharp):
/// digits drawn stroke by stroke with mouse or touch events must show the right digit and parity. Screenshots go to
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
    public async Task DigitsDrawnWithTheMouseOrAFingerShowTheirDigitAndParity()
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
        string shots = Path.Combine(TestData.RepositoryRoot, "TestResults", "browser");
        Directory.CreateDirectory(shots);

        // With the mouse, then with a finger (touch events on a touch-enabled page).
        foreach (bool touch in new[] { false, true })
        {
            await using var page = await browser.NewPageAsync();
            await page.SetViewportAsync(new ViewPortOptions { Width = 900, Height = 640, HasTouch = touch, IsMobile = touch });
            await page.GoToAsync(url);
            await page.WaitForSelectorAsync("[data-task=parity] .row");
            var box = await (await page.QuerySelectorAsync("#pad")).BoundingBoxAsync();
            foreach (var (digit, parity, strokes) in touch ? Drawings[..1].Concat(Drawings[2..]) : Drawings)
            {
                await page.ClickAsync("#clear");
                foreach (var stroke in strokes)
                {
                    var points = Densify(stroke, 8).Select(p => (X: box.X + (decimal)p.X, Y: box.Y + (decimal)p.Y)).ToArray();
                    if (touch)
                    {
                        await page.Touchscreen.TouchStartAsync(points[0].X, points[0].Y);
                        foreach (var p in points[1..]) await page.Touchscreen.TouchMoveAsync(p.X, p.Y);
                        await page.Touchscreen.TouchEndAsync();
                    }
                    else
                    {
                        await page.Mouse.MoveAsync(points[0].X, points[0].Y);
                        await page.Mouse.DownAsync();
                        foreach (var p in points[1..]) await page.Mouse.MoveAsync(p.X, p.Y);
                        await page.Mouse.UpAsync();
                    }
                }
                await page.WaitForFunctionAsync("() => !document.body.classList.contains('busy') && document.querySelector('[data-task=digit] .label').textContent !== ''");
                string shownDigit = await page.EvaluateExpressionAsync<string>("document.querySelector('[data-task=digit] .label').textContent");
                string shownParity = await page.EvaluateExpressionAsync<string>("document.querySelector('[data-task=parity] .label').textContent");
                string answer = await page.EvaluateExpressionAsync<string>("document.getElementById('answer').textContent");
                await page.ScreenshotAsync(Path.Combine(shots, $"drawn-{digit}-{(touch ? "touch" : "mouse")}.png"));
                Assert.Equal((digit, parity), (shownDigit, shownParity));
                Assert.Equal($"{digit} · {parity}", answer);
            }
        }
    }

    // The stroke's corners with `steps` evenly spaced points on every segment, as a hand moving through them.
    private static IEnumerable<(double X, double Y)> Densify((double X, double Y)[] stroke, int steps)
    {
        yield return stroke[0];
        for (int i = 1; i < stroke.Length; i++)
            for (int k = 1; k <= steps; k++)
                yield return (stroke[i - 1].X + (stroke[i].X - stroke[i - 1].X) * k / steps, stroke[i - 1].Y + (stroke[i].Y - stroke[i - 1].Y) * k / steps);
    }
}

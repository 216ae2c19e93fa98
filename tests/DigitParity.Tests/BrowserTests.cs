using DigitParity.Checkpoints;
using DigitParity.Server;
using PuppeteerSharp;

namespace DigitParity.Tests;

/// <summary>
/// The drawing page in a real headless browser (Debian's Chromium at /usr/bin/chromium, driven by PuppeteerSharp),
/// serving the shipped CNN: digits drawn stroke by stroke with mouse or touch events must show the right digit and
/// parity, a "sure" verdict and the 28 × 28 input; "Show why" paints each head's saliency; a scribble is "not a digit".
/// Screenshots go to TestResults/browser/.
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

    // A zigzag across the pad: ink that is no digit.
    private static readonly (double X, double Y)[][] Scribble =
        [Enumerable.Range(0, 9).Select(i => (i % 2 == 0 ? 30.0 : 250.0, 30.0 + 27 * i)).ToArray()];

    [Fact]
    public async Task DigitsDrawnWithTheMouseOrAFingerShowTheirDigitAndParity()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install it with 'apt-get install chromium' (.ci/run does)");
        var shipped = Checkpoint.LoadShipped();
        Assert.NotNull(shipped.Network.RejectionThreshold);
        using var service = new PredictionService(shipped.Network, Checkpoint.ShippedModelPath);
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
                await Draw(page, box, strokes, touch);
                string shownDigit = await page.EvaluateExpressionAsync<string>("document.querySelector('[data-task=digit] .label').textContent");
                string shownParity = await page.EvaluateExpressionAsync<string>("document.querySelector('[data-task=parity] .label').textContent");
                string answer = await page.EvaluateExpressionAsync<string>("document.getElementById('answer').textContent");
                await page.ScreenshotAsync(Path.Combine(shots, $"drawn-{digit}-{(touch ? "touch" : "mouse")}.png"));
                Assert.Equal((digit, parity), (shownDigit, shownParity));
                Assert.Equal($"{digit} · {parity}", answer);
                Assert.Equal("verdict sure", await page.EvaluateExpressionAsync<string>("document.getElementById('verdict').className"));
                Assert.StartsWith("Sure: ", await page.EvaluateExpressionAsync<string>("document.getElementById('verdict').textContent"));
                Assert.True(await Pixels(page, "#seen", "r > 128 && g > 128 && b > 128") > 20, "the 28 × 28 input shows the drawn strokes");
            }

            if (touch) continue;
            // "Show why": every head's map appears, with pixels pushing towards its answer in orange.
            Assert.False(await page.EvaluateExpressionAsync<bool>("document.querySelector('[data-task=digit] canvas.map').checkVisibility()"));
            await page.ClickAsync("#why");
            foreach (string task in new[] { "digit", "parity" })
            {
                Assert.True(await page.EvaluateExpressionAsync<bool>($"document.querySelector('[data-task={task}] canvas.map').checkVisibility()"));
                Assert.True(await Pixels(page, $"[data-task={task}] canvas.map", "r > 200 && g > 60 && g < 200 && b < 80") > 5, $"the {task} map shows orange saliency");
            }
            await page.ScreenshotAsync(Path.Combine(shots, "drawn-7-why.png"));

            // A scribble over the whole pad is no digit.
            await Draw(page, box, Scribble, touch);
            await page.ScreenshotAsync(Path.Combine(shots, "scribble.png"));
            Assert.Equal("verdict reject", await page.EvaluateExpressionAsync<string>("document.getElementById('verdict').className"));
            Assert.Equal("not a digit", await page.EvaluateExpressionAsync<string>("document.getElementById('answer').textContent"));
        }
    }

    // Clears the pad, draws the strokes with the mouse or a finger and waits for the answer to them.
    private static async Task Draw(IPage page, BoundingBox box, (double X, double Y)[][] strokes, bool touch)
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
        await page.WaitForFunctionAsync("() => !document.body.classList.contains('busy') && !document.getElementById('verdict').hidden");
    }

    // How many pixels of the canvas matched by `selector` satisfy `condition` (a JavaScript expression over r, g, b).
    private static Task<int> Pixels(IPage page, string selector, string condition) =>
        page.EvaluateExpressionAsync<int>(
            $"(() => {{ const c = document.querySelector('{selector}'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; " +
            $"let n = 0; for (let i = 0; i < d.length; i += 4) {{ const r = d[i], g = d[i + 1], b = d[i + 2]; if ({condition}) n++; }} return n; }})()");

    // The stroke's corners with `steps` evenly spaced points on every segment, as a hand moving through them.
    private static IEnumerable<(double X, double Y)> Densify((double X, double Y)[] stroke, int steps)
    {
        yield return stroke[0];
        for (int i = 1; i < stroke.Length; i++)
            for (int k = 1; k <= steps; k++)
                yield return (stroke[i - 1].X + (stroke[i].X - stroke[i - 1].X) * k / steps, stroke[i - 1].Y + (stroke[i].Y - stroke[i - 1].Y) * k / steps);
    }
}

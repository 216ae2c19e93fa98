using System.Reflection;
using System.Text.Json.Nodes;
using DigitParity.Data;
using DigitParity.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DigitParity.Server;

/// <summary>
/// The web front of a trained model: <c>GET /</c> a page to draw digits on, <c>POST /api/predict</c>,
/// <c>POST /api/explain</c> (the prediction with the 28 × 28 input and a saliency map per head), <c>GET /api/model</c>,
/// <c>GET /healthz</c>. Every error is RFC 7807 problem JSON.
/// </summary>
public static class DigitServer
{
    /// <summary>Largest request body accepted: 4 MiB (413 above it).</summary>
    public const long MaxBodyBytes = 4 << 20;

    /// <summary>Most pixels of images being decoded at once, summed over requests: 48 million (~300 MB while they decode).</summary>
    public const long MaxDecodePixels = 48_000_000;

    /// <summary>Most images decoding at once: 256.</summary>
    public const int MaxDecodes = 256;

    /// <summary>Seconds a client is asked to wait (Retry-After) when the decode budget is full (503).</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>
    /// Builds the application around <paramref name="service"/>, listening on <paramref name="urls"/>;
    /// <paramref name="configure"/> may adjust the builder (tests use it to swap in the test server).
    /// </summary>
    public static WebApplication Build(PredictionService service, IReadOnlyList<string> urls, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(urls);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(DigitServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls([.. urls]);
        builder.WebHost.UseKestrelHttpsConfiguration(); // https:// addresses, with a certificate configured for Kestrel
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
            kestrel.ConfigureEndpointDefaults(endpoint => ProblemReplies.Use(endpoint)); // Kestrel's own 400/408/414/431 too
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(service);
        // Pixels decoding at once, MaxDecodePixels in all: a 74-byte PNG may claim 40 M pixels, so at most one such image
        // decodes at a time, while the drawing page's 78,400-pixel canvases keep room (MaxDecodes bounds their number).
        builder.Services.AddSingleton(new DecodeBudget(MaxDecodes, MaxDecodePixels));
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseExceptionHandler(new ExceptionHandlerOptions { StatusCodeSelector = _ => StatusCodes.Status500InternalServerError });
        app.UseStatusCodePages();
        app.Use(async (context, next) =>
        {
            // Everything the page needs comes from us.
            foreach (var (name, value) in ProblemReplies.SecurityHeaders) context.Response.Headers[name] = value;
            await next(context);
        });

        // Every GET route answers HEAD too (Kestrel sends the headers without the body).
        string[] read = [HttpMethods.Get, HttpMethods.Head];
        app.MapMethods("/", read, () => Asset("index.html", "text/html; charset=utf-8"));
        app.MapMethods("/app.js", read, () => Asset("app.js", "text/javascript; charset=utf-8"));
        app.MapMethods("/app.css", read, () => Asset("app.css", "text/css; charset=utf-8"));
        app.MapMethods("/healthz", read, () => Results.Json(new { status = "ok" }));
        app.MapMethods("/api/model", read, (PredictionService s) => Results.Text(ModelJson(s).ToJsonString(), "application/json"));
        app.MapPost("/api/predict", (HttpRequest request, PredictionService s, DecodeBudget budget, CancellationToken ct) =>
            Answer(request, s, budget, ct, async (pixels, unit) =>
                PredictionJson.ToJson(await (pixels is not null ? s.PredictAsync(pixels) : s.PredictAsync(unit!)))));
        app.MapPost("/api/explain", (HttpRequest request, PredictionService s, DecodeBudget budget, CancellationToken ct) =>
            Answer(request, s, budget, ct, async (pixels, unit) =>
                PredictionJson.ToJson(await (pixels is not null ? s.ExplainAsync(pixels) : s.ExplainAsync(unit!)))));
        return app;
    }

    // Reads the body as PredictRequest does and answers with what `answer` makes of its pixels, or with the problem.
    private static async Task<IResult> Answer(HttpRequest request, PredictionService service, DecodeBudget budget, CancellationToken ct,
        Func<byte[]?, float[]?, Task<JsonObject>> answer)
    {
        try
        {
            var (pixels, unit) = await PredictRequest.ReadAsync(request, service.Network.Config.InputSize, budget, ct);
            return Results.Text((await answer(pixels, unit)).ToJsonString(), "application/json");
        }
        catch (RequestProblem problem)
        {
            // The rest of an oversized body is never read: end the connection so the client cannot reuse it mid-body.
            if (problem.Status == StatusCodes.Status413PayloadTooLarge) request.HttpContext.Response.Headers.Connection = "close";
            if (problem.Status == StatusCodes.Status503ServiceUnavailable)
                request.HttpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Problem(problem.Message, statusCode: problem.Status, title: problem.Title);
        }
    }

    /// <summary>The heads and their class names, for the page to lay out its bars.</summary>
    internal static JsonObject ModelJson(PredictionService service)
    {
        var tasks = new JsonArray();
        foreach (var task in service.Network.Tasks)
        {
            var names = new JsonArray();
            for (int c = 0; c < task.ClassCount; c++) names.Add(task.ClassName(c));
            tasks.Add(new JsonObject { ["name"] = task.Name, ["classes"] = names });
        }
        return new JsonObject
        {
            ["model"] = Path.GetFileName(service.ModelName),
            ["input_size"] = service.Network.Config.InputSize,
            ["calibrated"] = service.Network.Temperatures.Any(t => t != 1),
            ["rejection_threshold"] = service.Network.RejectionThreshold,
            ["tasks"] = tasks,
        };
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> Assets = new();

    private static IResult Asset(string name, string contentType) => Results.Bytes(Assets.GetOrAdd(name, ReadAsset), contentType);

    private static byte[] ReadAsset(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("wwwroot/" + name)
            ?? throw new InvalidOperationException($"The embedded asset {name} is missing from the build.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}

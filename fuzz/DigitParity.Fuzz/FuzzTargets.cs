using DigitParity.Data;
using DigitParity.Model;
using DigitParity.Server;
using Microsoft.AspNetCore.Http;

namespace DigitParity.Fuzz;

/// <summary>A fuzz input that did something other than return or throw our documented exception.</summary>
public sealed class FuzzFinding(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The parsers fuzzed, as byte[] → outcome. Allowed outcomes: a result, or the documented exception with a message
/// (<see cref="InvalidDataException"/>, or <see cref="RequestProblem"/> for request bodies), within an allocation budget.
/// Anything else — another exception, an empty message, more managed memory than the budget — is a <see cref="FuzzFinding"/>.
/// Shared by the AFL harness (Program) and the test suite (regression files, property tests).
/// </summary>
public static class FuzzTargets
{
    /// <summary>The targets by name.</summary>
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>
    {
        ["idx"] = Idx,
        ["checkpoint"] = Checkpoint,
        ["statedict"] = StateDict,
        ["image"] = Image,
        ["request"] = Request,
    };

    /// <summary>The request target's content types; the input's first byte picks one.</summary>
    public static readonly string?[] ContentTypes =
    [
        "image/png", "image/jpeg", "application/json", "multipart/form-data; boundary=b", "application/octet-stream", "image/bmp",
        "text/plain", null, "multipart/form-data", "application/json; charset=utf-8",
    ];

    // Managed bytes a parser may allocate: a fixed allowance plus a multiple of the input (images may decode to their documented limit).
    private const long Allowance = 64L << 20;

    /// <summary>IDX images and labels, raw or gzip.</summary>
    public static void Idx(byte[] data)
    {
        Guard(data, 8, () => IdxReader.ReadImages(new MemoryStream(data), "fuzz.idx"));
        Guard(data, 8, () => IdxReader.ReadLabels(new MemoryStream(data), "fuzz.idx"));
    }

    /// <summary>
    /// A safetensors checkpoint; when it loads, a batch of 4 images is predicted with it, which must allocate no more than
    /// the configuration's working-memory bound and give finite probabilities (or refuse with one line).
    /// </summary>
    public static void Checkpoint(byte[] data) => Predicts(data, stream => Checkpoints.Checkpoint.Load(stream, "fuzz.safetensors"));

    /// <summary>The configuration the state_dict target loads its files with: the corpus's tiny CNN.</summary>
    public const string StateDictConfig =
        """{"input_size":36,"convolutions":[2],"kernel":3,"hidden":[2],"tasks":[{"name":"digit","classes":10},{"name":"parity","classes":2}]}""";

    /// <summary>A plain PyTorch state_dict (F32, F16 or BF16, no DigitParity metadata) loaded with <see cref="StateDictConfig"/>, then predicted as a checkpoint is.</summary>
    public static void StateDict(byte[] data) => Predicts(data, stream => Checkpoints.Checkpoint.LoadStateDict(stream, "fuzz.safetensors", StateDictConfig));

    private static void Predicts(byte[] data, Func<Stream, Checkpoints.LoadedCheckpoint> load)
    {
        const int Batch = 4;
        long working = 0;
        Guard(data, 8, () =>
        {
            var network = load(new MemoryStream(data)).Network;
            working = (long)network.Config.WorkingBytes(Batch, 1);
            using var predictor = new Inference.Predictor(network, Batch);
            var images = Enumerable.Range(0, Batch).Select(i => Enumerable.Repeat((byte)(i * 85), network.Config.InputSize).ToArray()).ToArray();
            foreach (var prediction in predictor.Predict(images)) RequireFinite(prediction);
        }, extra: () => working);
    }

    /// <summary>An encoded image through decoding and the MNIST preprocessing.</summary>
    public static void Image(byte[] data) => Guard(data, 8, () =>
    {
        byte[] pixels = DigitImage.FromEncoded(data, "fuzz.png");
        if (pixels.Length != DigitImage.Side * DigitImage.Side) throw new FuzzFinding($"{pixels.Length} pixels, expected 784");
    }, extra: 2 * DigitImage.MaxPixels);

    private static readonly Lazy<PredictionService> Service = new(() =>
    {
        var network = new MultiTaskNetwork(ModelConfig.Tutorial);
        network.Initialize(1);
        return new PredictionService(network, "fuzz");
    });

    /// <summary>A <c>POST /api/predict</c> body: byte 0 picks the content type, the rest is the body; parsed, then predicted.</summary>
    public static void Request(byte[] data)
    {
        if (data.Length == 0) return;
        string? contentType = ContentTypes[data[0] % ContentTypes.Length];
        byte[] body = data[1..];
        Guard(data, 8, () =>
        {
            var context = new DefaultHttpContext();
            context.Request.Method = "POST";
            context.Request.ContentType = contentType;
            context.Request.Body = new MemoryStream(body);
            context.Request.ContentLength = body.Length;
            var (pixels, unit) = PredictRequest.ReadAsync(context.Request, 784, new DecodeBudget(1, DigitImage.MaxPixels), CancellationToken.None).GetAwaiter().GetResult();
            RequireFinite(pixels is not null ? Service.Value.Predict(pixels) : Service.Value.Predict(unit!));
        }, extra: 2 * DigitImage.MaxPixels);
    }

    private static void RequireFinite(Inference.Prediction prediction)
    {
        foreach (var task in prediction.Tasks)
            if (task.Probabilities.Any(p => !double.IsFinite(p))) throw new FuzzFinding($"{task.Task}: non-finite probability");
    }

    private static void Guard(byte[] data, long perInputByte, Action parse, long extra = 0) => Guard(data, perInputByte, parse, () => extra);

    private static void Guard(byte[] data, long perInputByte, Action parse, Func<long> extra)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            parse();
        }
        catch (InvalidDataException e) when (IsOneLine(e.Message))
        {
        }
        catch (RequestProblem e) when (IsOneLine(e.Message) && e.Status is 400 or 413 or 415)
        {
        }
        catch (FuzzFinding)
        {
            throw;
        }
        catch (Exception e)
        {
            throw new FuzzFinding($"{e.GetType().Name}: {e.Message}", e);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long budget = Allowance + extra() + perInputByte * data.Length;
        if (allocated > budget) throw new FuzzFinding($"allocated {allocated:N0} bytes for a {data.Length}-byte input (budget {budget:N0})");
    }

    // One printable line: no line breaks, no control characters (terminal escapes), not empty, not huge.
    private static bool IsOneLine(string message) => message.Length is > 0 and < 1000 && !message.Any(char.IsControl);

    /// <summary>Runs <paramref name="target"/> on every file of <paramref name="directory"/>; returns the findings.</summary>
    public static List<string> Replay(string target, string directory)
    {
        var findings = new List<string>();
        foreach (string file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
        {
            try
            {
                All[target](File.ReadAllBytes(file));
            }
            catch (FuzzFinding e)
            {
                findings.Add($"{Path.GetFileName(file)}: {e.Message}");
            }
        }
        return findings;
    }
}

using System.Buffers;
using System.Text.Json;
using DigitParity.Data;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace DigitParity.Server;

/// <summary>A request the API refuses: its status code, a short title and one line of detail.</summary>
public sealed class RequestProblem(int status, string title, string detail) : Exception(DigitParity.IO.Untrusted.Quote(detail, 300))
{
    /// <summary>HTTP status: 400, 413 or 415.</summary>
    public int Status { get; } = status;

    /// <summary>Short, fixed summary of the problem type.</summary>
    public string Title { get; } = title;

    internal static RequestProblem Malformed(string detail) => new(StatusCodes.Status400BadRequest, "Malformed request", detail);
}

/// <summary>
/// Reads the body of <c>POST /api/predict</c> and <c>POST /api/explain</c>: a PNG, JPEG or BMP image (raw, or the first file of a multipart form)
/// or JSON <c>{"pixels": [784 values in 0..1]}</c>. Every size is checked against <see cref="DigitServer.MaxBodyBytes"/>
/// before the body is buffered; every refusal is a <see cref="RequestProblem"/>.
/// </summary>
internal static class PredictRequest
{
    private static readonly string[] ImageTypes = ["image/png", "image/jpeg", "image/bmp", "application/octet-stream"];
    private const string Supported = "image/png, image/jpeg, image/bmp, application/octet-stream, multipart/form-data or application/json";

    /// <summary>The network input the body describes: MNIST bytes for images, unit floats for JSON.</summary>
    public static async Task<(byte[]? Pixels, float[]? UnitPixels)> ReadAsync(HttpRequest request, int inputSize, DecodeBudget budget, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) || type.MediaType.Value is not { } mediaType)
            throw new RequestProblem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"Content-Type '{request.ContentType}' is not supported; expected {Supported}");
        mediaType = mediaType.ToLowerInvariant();
        bool isImage = ImageTypes.Contains(mediaType), isJson = mediaType == "application/json", isForm = mediaType == "multipart/form-data";
        if (!isImage && !isJson && !isForm)
            throw new RequestProblem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"Content-Type '{mediaType}' is not supported; expected {Supported}");

        byte[] body = await ReadBodyAsync(request, ct);
        if (isJson) return (null, ParsePixels(body, inputSize));
        if (isForm) body = await FirstFileAsync(body, type, ct);
        if (body.Length == 0) throw RequestProblem.Malformed("The request body is empty; expected an image");
        try
        {
            return (DigitImage.FromEncoded(body, "request body", budget), null);
        }
        catch (InvalidDataException e)
        {
            throw RequestProblem.Malformed(e.Message);
        }
        catch (DecodeBudgetExceededException e)
        {
            throw new RequestProblem(StatusCodes.Status503ServiceUnavailable, "Busy", e.Message);
        }
    }

    // The most a request's declared length alone allocates.
    private const int ExactBodyBytes = 64 * 1024;

    // The whole body, refused with 413 as soon as it is known to exceed the limit (header or bytes read).
    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        long limit = DigitServer.MaxBodyBytes;
        if (request.ContentLength > limit) throw TooLarge(request.ContentLength.Value);
        // A small declared length (a digit's PNG or JSON) is read straight into the body's own array; a larger or chunked
        // body grows with the bytes that arrive, through a pooled chunk, so a declared length alone reserves no more
        // than ExactBodyBytes. (A fresh 80 KB chunk a request was measured at 6 % of the server's time under load.)
        byte[]? chunk = null;
        try
        {
            int read;
            if (request.ContentLength is { } declared && declared <= ExactBodyBytes)
            {
                var body = new byte[declared];
                int filled = 0;
                while (filled < body.Length && (read = await request.Body.ReadAsync(body.AsMemory(filled), ct)) > 0) filled += read;
                if (filled < body.Length) throw RequestProblem.Malformed($"The request body ended after {filled} of its {body.Length} bytes");
                return body;
            }
            using var buffer = new MemoryStream();
            chunk = ArrayPool<byte>.Shared.Rent(16384);
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limit) throw TooLarge(null);
                buffer.Write(chunk, 0, read);
            }
            return buffer.ToArray();
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(null);
        }
        catch (BadHttpRequestException e)
        {
            // A malformed body (a chunk size that is not hex, a body cut short): the client's mistake, not ours.
            request.HttpContext.Response.Headers.Connection = "close";
            throw RequestProblem.Malformed($"The request body cannot be read: {e.Message}");
        }
        finally
        {
            if (chunk is not null) ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private static RequestProblem TooLarge(long? length) => new(StatusCodes.Status413PayloadTooLarge, "Request body too large",
        $"The body{(length is { } n ? $" of {n} bytes" : "")} exceeds the limit of {DigitServer.MaxBodyBytes} bytes");

    private static async Task<byte[]> FirstFileAsync(byte[] body, MediaTypeHeaderValue type, CancellationToken ct)
    {
        string boundary = HeaderUtilities.RemoveQuotes(type.Boundary).Value ?? "";
        if (boundary.Length == 0 || boundary.Length > 200) throw RequestProblem.Malformed("multipart/form-data without a valid boundary");
        var reader = new MultipartReader(boundary, new MemoryStream(body)) { BodyLengthLimit = DigitServer.MaxBodyBytes, HeadersCountLimit = 16 };
        try
        {
            while (await reader.ReadNextSectionAsync(ct) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.IsFileDisposition()) continue;
                using var file = new MemoryStream();
                await section.Body.CopyToAsync(file, ct);
                return file.ToArray();
            }
        }
        catch (IOException e)
        {
            throw RequestProblem.Malformed($"Unreadable multipart body: {e.Message}");
        }
        catch (InvalidDataException e)
        {
            throw RequestProblem.Malformed($"Unreadable multipart body: {e.Message}");
        }
        throw RequestProblem.Malformed("The multipart form holds no file; expected one image file part");
    }

    // {"pixels": [inputSize numbers in 0..1]} (pixel / 255, ink = 1) -> the pixels; anything else is refused, saying why.
    // The body as the API writes it is scanned by hand; one with other properties or exponents goes through the reader.
    internal static float[] ParsePixels(byte[] body, int inputSize) =>
        PixelScanner.TryScan(body, inputSize) ?? TryReadPixels(body, inputSize) ?? DocumentPixels(body, inputSize);

    // The same through a JsonDocument, which can say what is wrong with a body.
    internal static float[] DocumentPixels(byte[] body, int inputSize)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw RequestProblem.Malformed($"The body is not valid JSON: {e.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("pixels", out var pixels) || pixels.ValueKind != JsonValueKind.Array)
                throw RequestProblem.Malformed($"Expected a JSON object {{\"pixels\": [{inputSize} numbers in 0..1]}}");
            int count = pixels.GetArrayLength();
            if (count != inputSize) throw RequestProblem.Malformed($"\"pixels\" holds {count} values; expected {inputSize} (28 x 28, row-major)");
            var values = new float[count];
            int i = 0;
            foreach (var item in pixels.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetSingle(out float v) || !(v >= 0 && v <= 1))
                    throw RequestProblem.Malformed($"\"pixels\"[{i}] is {Shorten(item.GetRawText())}; expected a number in 0..1 (pixel / 255, ink = 1)");
                values[i++] = v;
            }
            return values;
        }
    }

    // The pixels of a body that is exactly what the API asks for, read in one pass without building a document (under
    // load, JsonDocument's element tree cost more than the CNN); null for any other body, which ParsePixels then
    // examines to say what is wrong with it. Same rules as the document: one object, its "pixels" an array of
    // inputSize numbers in 0..1, other properties ignored, nothing after the object.
    internal static float[]? TryReadPixels(byte[] body, int inputSize)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8 });
        float[]? values = null;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("pixels"u8))
                {
                    reader.Read();
                    reader.Skip();
                    continue;
                }
                // A second "pixels" is left to the document's rule for duplicates.
                if (values is not null || !reader.Read() || reader.TokenType != JsonTokenType.StartArray) return null;
                values = new float[inputSize];
                int count = 0;
                while (reader.Read() && reader.TokenType == JsonTokenType.Number)
                {
                    if (count == inputSize || !reader.TryGetSingle(out float v) || !(v >= 0 && v <= 1)) return null;
                    values[count++] = v;
                }
                if (reader.TokenType != JsonTokenType.EndArray || count != inputSize) return null;
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) return null;
        }
        catch (JsonException)
        {
            return null;
        }
        return values;
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";
}

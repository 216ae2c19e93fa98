using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Connections;

namespace DigitParity.Server;

/// <summary>
/// Gives Kestrel's own error replies a problem JSON body. A request Kestrel cannot parse (a malformed request line,
/// a request line over 8 KiB → 414, headers over 32 KiB → 431, headers too slow → 408) never reaches the application:
/// Kestrel answers it itself with an empty body and closes the connection. This connection middleware watches what
/// Kestrel writes and, where one header block is such a reply — an error status, <c>Content-Length: 0</c>,
/// <c>Connection: close</c> and no <c>Content-Type</c>, which no reply of the application has — writes it again with
/// the headers and body every other error carries. Everything else passes through untouched. Plain HTTP/1.1 only:
/// on TLS the bytes it sees are encrypted and never match.
/// </summary>
internal static class ProblemReplies
{
    /// <summary>Adds the middleware to a Kestrel endpoint.</summary>
    public static void Use(IConnectionBuilder connection) => connection.Use(next => context =>
    {
        context.Transport = new Transport(context.Transport);
        return next(context);
    });

    /// <summary>The headers the application adds to every reply (see <see cref="DigitServer"/>).</summary>
    internal static readonly (string Name, string Value)[] SecurityHeaders =
    [
        ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
    ];

    // Kestrel writes a whole header block in one Advance; a bad-request reply is a few hundred bytes.
    private const int MaxReplyBytes = 2048;

    /// <summary>
    /// <paramref name="written"/> rewritten as a problem JSON reply when it is one of Kestrel's own empty error replies;
    /// null otherwise.
    /// </summary>
    internal static byte[]? Rewrite(ReadOnlySpan<byte> written)
    {
        if (written.Length is < 16 or > MaxReplyBytes || !written.StartsWith("HTTP/1.1 "u8) || !written.EndsWith("\r\n\r\n"u8)) return null;
        string text = Encoding.Latin1.GetString(written);
        string[] lines = text[..^4].Split("\r\n");
        if (lines[0].Length < 12 || !int.TryParse(lines[0].AsSpan(9, 3), out int status) || status < 400) return null;
        bool emptyBody = false, closes = false;
        foreach (string line in lines.AsSpan(1))
        {
            if (line.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase)) return null;
            emptyBody |= line.Equals("Content-Length: 0", StringComparison.OrdinalIgnoreCase);
            closes |= line.Equals("Connection: close", StringComparison.OrdinalIgnoreCase);
        }
        if (!emptyBody || !closes) return null;

        string title = lines[0].Length > 13 ? lines[0][13..] : "Error";
        byte[] body = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["title"] = title,
            ["status"] = status,
            ["detail"] = Detail(status),
        }.ToJsonString());
        var reply = new StringBuilder();
        reply.Append(lines[0]).Append("\r\n");
        foreach (string line in lines.AsSpan(1))
            if (!line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) reply.Append(line).Append("\r\n");
        reply.Append("Content-Type: application/problem+json\r\n");
        reply.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        foreach (var (name, value) in SecurityHeaders) reply.Append(name).Append(": ").Append(value).Append("\r\n");
        reply.Append("\r\n");
        return [.. Encoding.Latin1.GetBytes(reply.ToString()), .. body];
    }

    private static string Detail(int status) => status switch
    {
        400 => "The request is not well-formed HTTP/1.1.",
        408 => "The request headers did not arrive in time.",
        414 => "The request line is longer than 8 KiB.",
        431 => "The request headers are larger than 32 KiB, or more than 100.",
        _ => "The server could not read the request.",
    };

    private sealed class Transport(IDuplexPipe inner) : IDuplexPipe
    {
        public PipeReader Input => inner.Input;

        public PipeWriter Output { get; } = new Writer(inner.Output);
    }

    // Forwards everything to the transport's writer; looks at each block Kestrel commits before passing it on.
    private sealed class Writer(PipeWriter inner) : PipeWriter
    {
        private Memory<byte> _buffer;

        public override Memory<byte> GetMemory(int sizeHint = 0) => _buffer = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            byte[]? reply = bytes <= _buffer.Length ? Rewrite(_buffer.Span[..bytes]) : null;
            _buffer = default;
            if (reply is null)
            {
                inner.Advance(bytes);
                return;
            }
            inner.Write(reply);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;
    }
}

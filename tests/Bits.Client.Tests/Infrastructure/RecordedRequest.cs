namespace Bits.Client.Tests.Infrastructure;

/// <summary>A request as the fake handler saw it: headers snapshotted before anything computes Content-Length.</summary>
public sealed class RecordedRequest
{
    public required string Method { get; init; }
    public required Uri Uri { get; init; }
    public required Version Version { get; init; }
    public required IReadOnlyDictionary<string, string> Headers { get; init; }
    public required byte[] Body { get; init; }

    public string? PacketType => Header("BITS-Packet-Type");
    public string? SessionId => Header("BITS-Session-Id");
    public string? ContentRange => Header("Content-Range");

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public static async Task<RecordedRequest> CaptureAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers.NonValidated)
        {
            headers[name] = values.ToString();
        }

        var body = Array.Empty<byte>();
        if (request.Content is not null)
        {
            foreach (var (name, values) in request.Content.Headers.NonValidated)
            {
                headers[name] = values.ToString();
            }

            body = await request.Content.ReadAsByteArrayAsync(ct);
        }

        return new RecordedRequest
        {
            Method = request.Method.Method,
            Uri = request.RequestUri!,
            Version = request.Version,
            Headers = headers,
            Body = body,
        };
    }
}

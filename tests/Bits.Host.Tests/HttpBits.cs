using System.Globalization;
using System.Net.Http.Headers;

namespace Bits.Host.Tests;

/// <summary>Minimal BITS packets over HttpClient, for tests that look at the wire itself.</summary>
public static class HttpBits
{
    public static readonly HttpMethod BitsPost = new("BITS_POST");

    public static HttpRequestMessage Packet(Uri url, string type, string? sessionId = null, HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? BitsPost, url) { Content = new ByteArrayContent([]) };
        request.Headers.Add("BITS-Packet-Type", type);
        if (sessionId is not null)
        {
            request.Headers.Add("BITS-Session-Id", sessionId);
        }

        request.Content.Headers.ContentLength = 0;
        return request;
    }

    public static HttpRequestMessage Create(Uri url)
    {
        var request = Packet(url, "Create-Session");
        request.Headers.Add("BITS-Supported-Protocols", "{7df0354d-249b-430f-820d-3d2a9bef4931}");
        return request;
    }

    public static HttpRequestMessage Fragment(Uri url, string sessionId, byte[] file, long first, int length)
    {
        var request = Packet(url, "Fragment", sessionId);
        request.Content = new ByteArrayContent(file, (int)first, length);
        request.Content.Headers.ContentLength = length;
        request.Content.Headers.TryAddWithoutValidation("Content-Range", string.Create(CultureInfo.InvariantCulture, $"bytes {first}-{first + length - 1}/{file.Length}"));
        request.Headers.Add("Content-Name", "file.bin");
        return request;
    }

    public static string? Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values)
        : response.Content.Headers.TryGetValues(name, out var content) ? string.Join(",", content) : null;

    public static long Received(this HttpResponseMessage response) =>
        long.Parse(response.Header("BITS-Received-Content-Range")!, CultureInfo.InvariantCulture);

    public static void AssertAck(this HttpResponseMessage response, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("Ack", response.Header("BITS-Packet-Type"));
        Assert.Equal(0, response.Content.Headers.ContentLength);

        // Rule 6a.12: every error Ack names its HRESULT under both names, with the same value.
        Assert.Equal(response.Header("BITS-Error-Code"), response.Header("BITS-Error"));
    }

    public static async Task<string> CreateSessionAsync(this HttpClient http, Uri url)
    {
        using var response = await http.SendAsync(Create(url), TestContext.Current.CancellationToken);
        response.AssertAck(200);
        return response.Header("BITS-Session-Id")!;
    }

    public static MediaTypeHeaderValue OctetStream => new("application/octet-stream");
}

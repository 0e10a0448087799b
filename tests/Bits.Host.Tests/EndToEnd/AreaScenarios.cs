using System.Text;
using Azure.Storage.Blobs;
using Bits.Client;
using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>Upload areas (overwrite, maximum size, disabled) and Basic authentication with two users, on both hosts.</summary>
public class AreaScenarios(AzuriteFixture azurite, EndToEndHosts hosts) : Scenario(azurite, hosts)
{
    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Areas_PublishToTheirContainer_RefuseWhereDisabled_AndAboveTheirMaximumSize(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var client = Client(http);
        var file = SeededStream.Bytes(50_000, 8);
        var n = Unique();

        await client.UploadAsync(host.Url($"reports/{n}.bin"), new MemoryStream(file), ct: Ct);
        var disabled = await client.CreateSessionAsync(host.Url($"archive/{n}.bin"), ct: Ct);
        var tooLarge = await Assert.ThrowsAsync<BitsUploadException>(() => client.UploadAsync(host.Url($"reports/big-{n}.bin"), new MemoryStream(new byte[100_001]), ct: Ct));

        var blob = new BlobServiceClient(host.Storage.ConnectionString).GetBlobContainerClient(host.AreaContainer).GetBlobClient($"in/{n}.bin");
        Assert.Equal(file, (await blob.DownloadContentAsync(Ct)).Value.Content.ToArray());
        Assert.Equal(501, disabled.StatusCode);
        Assert.Equal(0x80070005u, disabled.ErrorCode);
        Assert.Equal(0x80200020u, tooLarge.ErrorCode);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task ExistingDestination_IsRefusedWithAccessDenied_UnlessTheAreaAllowsOverwrites(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var n = Unique();
        await Client(http).UploadAsync(host.Url($"once/{n}.bin"), new MemoryStream([1, 2, 3]), ct: Ct);
        await Client(http).UploadAsync(host.Url($"overwrite/{n}.bin"), new MemoryStream([1, 2, 3]), ct: Ct);

        var error = await Assert.ThrowsAsync<BitsUploadException>(() => Client(http).UploadAsync(host.Url($"once/{n}.bin"), new MemoryStream([4, 5]), ct: Ct));
        await Client(http).UploadAsync(host.Url($"overwrite/{n}.bin"), new MemoryStream([6, 7]), ct: Ct);

        Assert.Equal(403, error.StatusCode);
        Assert.Equal("E_ACCESSDENIED", error.ErrorName);
        Assert.Equal([1, 2, 3], await host.Storage.ReadPublishedAsync($"once/{n}.bin"));
        Assert.Equal([6, 7], await host.Storage.ReadPublishedAsync($"overwrite/{n}.bin"));
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task BasicAuthentication_TwoUsers_EachOwnsTheirSession_AndIsRecordedOnTheBlob(HostKind kind)
    {
        var host = await HostAsync(kind);
        using var http = host.CreateHttpClient();
        var n = Unique();
        var aliceUrl = host.Url($"secure/alice-{n}.bin");
        var file = SeededStream.Bytes(30_000, 2);

        // No credentials, wrong password, unknown user: the app's 401 challenge Ack (the host's key was sent).
        foreach (var authorization in new string?[] { null, Basic(EndToEndHosts.Alice, "wrong"), Basic("nobody", EndToEndHosts.AlicePassword) })
        {
            using var refused = await http.SendAsync(With(HttpBits.Create(aliceUrl), authorization), Ct);
            refused.AssertAck(401);
            Assert.Equal("0x80070005", refused.Header("BITS-Error-Code"));
            Assert.Equal("Basic realm=\"Secure uploads\", charset=\"UTF-8\"", Assert.Single(refused.Headers.WwwAuthenticate).ToString());
        }

        string id;
        using (var create = await http.SendAsync(With(HttpBits.Create(aliceUrl), Basic(EndToEndHosts.Alice, EndToEndHosts.AlicePassword)), Ct))
        {
            create.AssertAck(200);
            id = create.Header("BITS-Session-Id")!;
        }

        // Bob's valid credentials do not continue Alice's session.
        using (var bobs = await http.SendAsync(With(HttpBits.Fragment(aliceUrl, id, file, 0, file.Length), Basic(EndToEndHosts.Bob, EndToEndHosts.BobPassword)), Ct))
        {
            bobs.AssertAck(500);
            Assert.Equal("0x8020001F", bobs.Header("BITS-Error-Code"));
        }

        using (var fragment = await http.SendAsync(With(HttpBits.Fragment(aliceUrl, id, file, 0, file.Length), Basic(EndToEndHosts.Alice, EndToEndHosts.AlicePassword)), Ct))
        {
            fragment.AssertAck(200);
        }

        using (var close = await http.SendAsync(With(HttpBits.Packet(aliceUrl, "Close-Session", id), Basic(EndToEndHosts.Alice, EndToEndHosts.AlicePassword)), Ct))
        {
            close.AssertAck(200);
        }

        var client = Client(http);
        client.Options.CustomHeaders["Authorization"] = Basic(EndToEndHosts.Bob, EndToEndHosts.BobPassword);
        await client.UploadAsync(host.Url($"secure/bob-{n}.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(file, await host.Storage.ReadPublishedAsync($"secure/alice-{n}.bin"));
        Assert.Equal(EndToEndHosts.Alice, await UploaderAsync(host, $"secure/alice-{n}.bin"));
        Assert.Equal(EndToEndHosts.Bob, await UploaderAsync(host, $"secure/bob-{n}.bin"));
    }

    private static async Task<string?> UploaderAsync(EndToEndHost host, string blob)
    {
        var properties = await host.Storage.Uploads.GetBlobClient(blob).GetPropertiesAsync(cancellationToken: Ct);
        return properties.Value.Metadata.TryGetValue("bitsuploader", out var user) ? Uri.UnescapeDataString(user) : null;
    }

    private static HttpRequestMessage With(HttpRequestMessage request, string? authorization)
    {
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return request;
    }

    private static string Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
}

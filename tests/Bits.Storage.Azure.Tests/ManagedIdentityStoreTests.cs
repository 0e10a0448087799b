using System.Collections.Concurrent;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bits.Storage.Azure.Tests;

/// <summary>Its own Azurite, over HTTPS with <c>--oauth basic</c> (the shared assembly Azurite is plain HTTP).</summary>
public sealed class OAuthAzuriteFixture : IAsyncLifetime
{
    private AzuriteProcess? _azurite;

    public AzuriteProcess Azurite => _azurite ?? throw new InvalidOperationException("Azurite is not started.");

    public async ValueTask InitializeAsync() => _azurite = await AzuriteProcess.StartWithOAuthAsync();

    public async ValueTask DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

/// <summary>What one storage request looked like on the wire (after authentication was added).</summary>
public sealed record RecordedRequest(RequestMethod Method, Uri Uri, string? Authorization, string? CopySource)
{
    public bool IsUserDelegationKey =>
        Method == RequestMethod.Post && Uri.Query.Contains("restype=service") && Uri.Query.Contains("comp=userdelegationkey");

    public bool IsPutBlockFromUrl => Method == RequestMethod.Put && Uri.Query.Contains("comp=block") && !Uri.Query.Contains("comp=blocklist") && CopySource is not null;
}

/// <summary>Records every request just before the transport, so the Authorization header is visible.</summary>
public sealed class RequestRecorder : HttpPipelinePolicy
{
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public void Clear() => _requests.Clear();

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Record(message);
        ProcessNext(message, pipeline);
    }

    public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Record(message);
        return ProcessNextAsync(message, pipeline);
    }

    private void Record(HttpMessage message)
    {
        var request = message.Request;
        request.Headers.TryGetValue("Authorization", out var authorization);
        request.Headers.TryGetValue("x-ms-copy-source", out var copySource);
        _requests.Enqueue(new RecordedRequest(request.Method, request.Uri.ToUri(), authorization, copySource));
    }
}

/// <summary>
/// The managed-identity path: the store built from service URIs and a <see cref="TokenCredential"/> (no connection
/// string, no account key), against Azurite in OAuth mode. Publishing must then authorize its server-side copies with a
/// user delegation SAS.
/// </summary>
public sealed class ManagedIdentityStoreTests(OAuthAzuriteFixture fixture) : IClassFixture<OAuthAzuriteFixture>
{
    private const int SegmentBytes = 4096;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private AzuriteProcess Azurite => fixture.Azurite;

    [Fact]
    public async Task Publish_WithTokenCredential_CommitsTheStagedBlocks_WithoutCopyingOrSas()
    {
        var credential = new AzuriteTokenCredential();
        var harness = await CreateAsync(credential);
        var data = SeededStream.Bytes((3 * SegmentBytes) + 1234, 11);
        var session = await StageAsync(harness, await NewSessionAsync(harness, data.Length), data, 3000);
        harness.Recorder.Clear();

        Assert.Equal(PublishResult.Published, await harness.Store.PublishAsync(session, allowOverwrite: false, Ct));

        // Byte-identical; no shared key anywhere, and no copy (so no user delegation key): the commit is metadata.
        Assert.Equal(data, (await harness.Uploads.GetBlobClient(session.Destination).DownloadContentAsync(Ct)).Value.Content.ToArray());
        Assert.Empty(await StagedBlobsAsync(harness, session.Id));
        var requests = harness.Recorder.Requests;
        Assert.All(requests, r => Assert.StartsWith("Bearer ", r.Authorization, StringComparison.Ordinal));
        Assert.DoesNotContain(requests, r => r.IsUserDelegationKey || r.IsPutBlockFromUrl);
    }

    [Fact]
    public async Task SessionLifecycle_WithTokenCredential_TablesAndBlobsWork()
    {
        var harness = await CreateAsync(new AzuriteTokenCredential());
        var data = SeededStream.Bytes(9_000, 13);
        var closed = await StageAsync(harness, await NewSessionAsync(harness, data.Length), data, 9_000);
        var cancelled = await StageAsync(harness, await NewSessionAsync(harness, data.Length), data.AsMemory(0, 5_000).ToArray(), 5_000);
        Assert.Equal(data.Length, (await harness.Store.GetSessionAsync(closed.Id, Ct))!.ReceivedLength);
        Assert.Equal(5_000, (await harness.Store.GetSessionAsync(cancelled.Id, Ct))!.ReceivedLength);

        await harness.Store.PublishAsync(closed, allowOverwrite: false, Ct);
        await harness.Store.DiscardAsync(cancelled, BitsSessionState.Cancelled, Ct);

        // Tombstones (written by a table transaction) read back through the token-authenticated table client.
        Assert.Equal(BitsSessionState.Closed, (await harness.Store.GetSessionAsync(closed.Id, Ct))!.State);
        Assert.Equal(BitsSessionState.Cancelled, (await harness.Store.GetSessionAsync(cancelled.Id, Ct))!.State);
        Assert.True(await harness.Store.DestinationExistsAsync(null, closed.Destination, Ct));
        Assert.False(await harness.Store.DestinationExistsAsync(null, cancelled.Destination, Ct));
        Assert.Equal(PublishResult.DestinationExists, await harness.Store.PublishAsync(await NewSessionAsync(harness, 0, closed.Destination), allowOverwrite: false, Ct));
        Assert.Empty(await StagedBlobsAsync(harness, closed.Id));
        Assert.Empty(await StagedBlobsAsync(harness, cancelled.Id));
        Assert.All(harness.Recorder.Requests, r => Assert.StartsWith("Bearer ", r.Authorization, StringComparison.Ordinal));
    }

    private static async Task<BitsSession> StageAsync(Harness harness, BitsSession session, byte[] data, int piece)
    {
        for (var offset = 0; offset < data.Length;)
        {
            var length = Math.Min(piece, data.Length - offset);
            session = (await harness.Store.StageAsync(session, offset, data.AsMemory(offset, length), alreadyStaged: false, Ct))!;
            offset += length;
        }

        return session;
    }

    [Fact]
    public async Task UserDelegationSas_ReadsThatBlobOnly_AndAzuriteChecksItsSignature()
    {
        // The control for the copies above: the SAS the authorizer makes is what grants the read (Azurite's own
        // copy-source request carries no token), and Azurite verifies it.
        var harness = await CreateAsync(new AzuriteTokenCredential());
        var staging = harness.Blobs.GetBlobContainerClient(harness.Options.StagingContainer);
        var blob = staging.GetBlobClient("probe/a");
        await blob.UploadAsync(BinaryData.FromBytes([1, 2, 3]), Ct);
        var sas = await new StagingSourceAuthorizer(harness.Blobs, TimeProvider.System).AuthorizeAsync(blob, Ct);
        using var http = new HttpClient(Azurite.CreateHttpHandler());

        using var read = await http.GetAsync(sas, Ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
        Assert.Equal(new byte[] { 1, 2, 3 }, await read.Content.ReadAsByteArrayAsync(Ct));

        using var anonymous = await http.GetAsync(blob.Uri, Ct);
        var otherBlob = new UriBuilder(sas) { Path = sas.AbsolutePath + "-other" }.Uri;
        using var other = await http.GetAsync(otherBlob, Ct);
        var tampered = new Uri(sas.AbsoluteUri.Replace("sp=r", "sp=rw", StringComparison.Ordinal));
        using var put = new HttpRequestMessage(HttpMethod.Put, tampered) { Content = new ByteArrayContent([9]) };
        put.Headers.Add("x-ms-blob-type", "BlockBlob");
        using var write = await http.SendAsync(put, Ct);
        Assert.NotEqual(System.Net.HttpStatusCode.OK, anonymous.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, other.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, write.StatusCode);
    }

    [Fact]
    public async Task OAuthAzurite_RefusesATokenForAnotherAudience()
    {
        // The control that makes the tests above meaningful: Azurite does check the tokens it is given.
        var wrong = new AzuriteTokenCredential(audience: "https://vault.azure.net");
        var blobs = new BlobServiceClient(Azurite.BlobServiceUri, wrong, new BlobClientOptions { Transport = Azurite.CreateTransport() });
        var tables = new TableServiceClient(Azurite.TableServiceUri, wrong, new TableClientOptions { Transport = Azurite.CreateTransport() });

        var blobError = await Assert.ThrowsAsync<RequestFailedException>(() => blobs.GetBlobContainerClient("nope").ExistsAsync(Ct));
        var tableError = await Assert.ThrowsAsync<RequestFailedException>(() => tables.GetTableClient("nope").CreateIfNotExistsAsync(Ct));

        Assert.Equal((403, "AuthenticationFailed"), (blobError.Status, blobError.ErrorCode));
        Assert.Equal(403, tableError.Status);
        Assert.Contains("AuthenticationFailed", tableError.Message, StringComparison.Ordinal);
    }

    private async Task<Harness> CreateAsync(TokenCredential credential)
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var options = new AzureBitsStorageOptions
        {
            BlobServiceUri = Azurite.BlobServiceUri,
            TableServiceUri = Azurite.TableServiceUri,
            UploadContainer = "up-" + suffix,
            StagingContainer = "st-" + suffix,
            SessionTable = "sessions" + suffix,
        };
        Assert.Null(options.ConnectionString);
        Assert.Equal(Uri.UriSchemeHttps, options.BlobServiceUri!.Scheme);

        var recorder = new RequestRecorder();
        var blobOptions = new BlobClientOptions { Transport = Azurite.CreateTransport() };
        blobOptions.AddPolicy(recorder, HttpPipelinePosition.BeforeTransport);
        var tableOptions = new TableClientOptions { Transport = Azurite.CreateTransport() };
        tableOptions.AddPolicy(recorder, HttpPipelinePosition.BeforeTransport);
        var blobs = new BlobServiceClient(options.BlobServiceUri, credential, blobOptions);
        var tables = new TableServiceClient(options.TableServiceUri, credential, tableOptions);

        // A token credential gives the client no key to sign a service SAS with: the store must use a user delegation key.
        Assert.False(blobs.GetBlobContainerClient(options.StagingContainer).GetBlobClient("x").CanGenerateSasUri);

        var store = new AzureBitsUploadStore(
            blobs,
            tables,
            Microsoft.Extensions.Options.Options.Create(options),
            Microsoft.Extensions.Options.Options.Create(new BitsServerOptions()),
            TimeProvider.System,
            NullLogger<AzureBitsUploadStore>.Instance);
        await store.InitializeAsync(cancellationToken: Ct);
        return new Harness(store, options, blobs, recorder);
    }

    private static async Task<BitsSession> NewSessionAsync(Harness harness, long total, string? destination = null)
    {
        var session = new BitsSession { Id = BitsSessionIds.NewId(), Destination = destination ?? $"mi/{Guid.NewGuid():N}.bin", CreatedAt = DateTimeOffset.UtcNow };
        await harness.Store.CreateSessionAsync(session, Ct);
        var stored = await harness.Store.GetSessionAsync(session.Id, Ct);
        return (await harness.Store.TrySetTotalLengthAsync(stored!, total, Ct))!;
    }

    private static async Task<List<string>> StagedBlobsAsync(Harness harness, string sessionId)
    {
        var names = new List<string>();
        var options = new global::Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = AzureBitsUploadStore.SessionKey(sessionId) + "/" };
        await foreach (var blob in harness.Blobs.GetBlobContainerClient(harness.Options.StagingContainer).GetBlobsAsync(options, Ct))
        {
            names.Add(blob.Name);
        }

        return names;
    }

    private sealed record Harness(AzureBitsUploadStore Store, AzureBitsStorageOptions Options, BlobServiceClient Blobs, RequestRecorder Recorder)
    {
        public BlobContainerClient Uploads => Blobs.GetBlobContainerClient(Options.UploadContainer);
    }
}

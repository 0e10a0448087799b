using Azure.Data.Tables;
using Bits.Client;
using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>What the shared scenarios have in common: unique names, clients and per-session cleanup checks.</summary>
public abstract class Scenario(AzuriteFixture azurite, EndToEndHosts hosts)
{
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected EndToEndHosts Hosts => hosts;

    protected Task<EndToEndHost> HostAsync(HostKind kind) => hosts.GetAsync(kind, azurite);

    /// <summary>A name no other scenario on the shared host uses.</summary>
    protected static string Unique() => Guid.NewGuid().ToString("N")[..12];

    protected static BitsUploadClient Client(HttpClient http, Func<FragmentRequest, FragmentPlan>? planner = null) =>
        new(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero, FragmentPlanner = planner, MaxFragmentsWithoutProgress = 64 });

    /// <summary>Staged blobs of one session (the store names them <c>{session key}/{segment}</c>).</summary>
    protected static async Task<int> StagedBlobCountAsync(EndToEndHost host, string sessionId)
    {
        var count = 0;
        var prefix = Guid.Parse(sessionId).ToString("N") + "/";
        await foreach (var _ in host.Storage.Staging.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = prefix }, Ct))
        {
            count++;
        }

        return count;
    }

    /// <summary>Whether the session's live row is still in the session table.</summary>
    protected static async Task<bool> SessionRowExistsAsync(EndToEndHost host, string sessionId) =>
        (await host.Storage.Sessions.GetEntityIfExistsAsync<TableEntity>(sessionId, "session", cancellationToken: Ct)).HasValue;

    protected static async Task AssertNothingLeftAsync(EndToEndHost host, string sessionId)
    {
        Assert.Equal(0, await StagedBlobCountAsync(host, sessionId));
        Assert.False(await SessionRowExistsAsync(host, sessionId), $"session {sessionId} still has its row");
    }

    /// <summary>Published blobs whose name contains <paramref name="token"/>, in the default container.</summary>
    protected static async Task<List<string>> PublishedNamesContainingAsync(EndToEndHost host, string token)
    {
        var names = new List<string>();
        try
        {
            await foreach (var blob in host.Storage.Uploads.GetBlobsAsync(cancellationToken: Ct))
            {
                if (blob.Name.Contains(token, StringComparison.Ordinal))
                {
                    names.Add(blob.Name);
                }
            }
        }
        catch (Azure.RequestFailedException e) when (e.Status == 404)
        {
            // No upload yet on this host: no container.
        }

        return names;
    }
}

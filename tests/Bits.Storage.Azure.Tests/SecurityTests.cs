using System.Globalization;
using System.Web;
using Azure.Data.Tables;
using Azure.Storage.Sas;
using Bits.Protocol;
using Bits.Testing;

namespace Bits.Storage.Azure.Tests;

/// <summary>Threat-model checks of the Azure store: no query text from user input, least-privilege short SAS URLs.</summary>
public class SecurityTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("x' or PartitionKey ne 'y")]
    [InlineData("' or '1' eq '1")]
    [InlineData("alice') or (true")]
    [InlineData("u-")]
    [InlineData("*")]
    public async Task CountOpenSessions_UserNameWithFilterSyntax_CountsOnlyThatUsersSessions(string hostile)
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        foreach (var user in new[] { "alice", "alice", "bob", hostile })
        {
            var session = new BitsSession { Id = BitsSessionIds.NewId(), Destination = $"t/{Guid.NewGuid():N}.bin", CreatedAt = DateTimeOffset.UtcNow, User = user };
            await harness.Store.CreateSessionAsync(session, Ct);
        }

        Assert.Equal(1, await harness.Store.CountOpenSessionsAsync(hostile, Ct));
        Assert.Equal(2, await harness.Store.CountOpenSessionsAsync("alice", Ct));
        Assert.Equal(0, await harness.Store.CountOpenSessionsAsync("alice' or 'a' eq 'a", Ct));

        // User text never becomes a key: per-user partitions are "u-" + 64 hex digits of SHA-256.
        var userPartitions = (await harness.RowsAsync()).Select(r => r.PartitionKey).Where(p => p.StartsWith("u-", StringComparison.Ordinal)).Distinct().ToList();
        Assert.Equal(3, userPartitions.Count);
        Assert.All(userPartitions, p => Assert.Matches("^u-[0-9a-f]{64}$", p));
    }

    [Fact]
    public async Task SessionKeys_AreOnlyCanonicalGuidsOrFixedFormats()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var session = new BitsSession { Id = BitsSessionIds.NewId(), Destination = "t/x.bin", CreatedAt = DateTimeOffset.UtcNow, User = "mallory\r\n' or ''='" };
        await harness.Store.CreateSessionAsync(session, Ct);

        Assert.All(await harness.RowsAsync(), row =>
            Assert.Matches(@"^(\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}|u-[0-9a-f]{64}|d-[0-9a-f]{64}|x-[0-9]{10})$", row.PartitionKey));
        Assert.All(await harness.StagedBlobsAsync(), name => Assert.Matches("^[0-9a-f]{32}/[0-9]{6}$", name));
    }

    [Fact]
    public async Task StagingSas_IsReadOnly_ForOneBlob_AndLivesAtMostThirtyMinutes()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var blob = harness.Staging.GetBlobClient("0123456789abcdef0123456789abcdef/000000");
        var now = DateTimeOffset.UtcNow;
        var authorizer = new StagingSourceAuthorizer(harness.Blobs, TimeProvider.System);

        var read = Query(await authorizer.AuthorizeAsync(blob, Ct));
        var write = Query(await authorizer.AuthorizeAsync(blob, BlobSasPermissions.Create | BlobSasPermissions.Write, TimeSpan.FromHours(24), Ct));

        Assert.Equal("r", read["sp"]);
        Assert.Equal("b", read["sr"]);
        Assert.Equal("cw", write["sp"]);
        foreach (var sas in new[] { read, write })
        {
            var expires = DateTimeOffset.Parse(sas["se"]!, CultureInfo.InvariantCulture);
            var starts = DateTimeOffset.Parse(sas["st"]!, CultureInfo.InvariantCulture);
            Assert.InRange(expires - now, TimeSpan.FromMinutes(29), TimeSpan.FromMinutes(31));
            Assert.InRange(now - starts, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(6));
            Assert.False(sas.AllKeys.Contains("srt"), "an account SAS");
        }
    }

    private static System.Collections.Specialized.NameValueCollection Query(Uri sas) => HttpUtility.ParseQueryString(sas.Query);
}

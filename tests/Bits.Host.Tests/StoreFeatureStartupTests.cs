using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Bits.Host.Tests;

/// <summary>
/// Issue 17, point 1: start-up fails when the registered store lacks a feature a configured area uses, naming the area
/// and the feature, instead of a silent no-op or a 500 on the first request that needs it (<see cref="BitsStoreFeatures"/>).
/// </summary>
public class StoreFeatureStartupTests(AzuriteFixture azurite)
{
    private static Dictionary<string, string?> AreasUsingEveryFeature() => new()
    {
        ["Bits:Areas:reply:PathPrefix"] = "reply",
        ["Bits:Areas:reply:BlobPrefix"] = "reply/",
        ["Bits:Areas:reply:NotificationType"] = "ByValue",
        ["Bits:Areas:reply:NotificationUrl"] = "http://127.0.0.1:9/never",
        ["Bits:Areas:quota:PathPrefix"] = "quota",
        ["Bits:Areas:quota:BlobPrefix"] = "quota/",
        ["Bits:Areas:quota:MaxSessionsPerUser"] = "2",
        ["Bits:Areas:quota:Authentication:Basic"] = "true",
        ["Bits:Authentication:AllowBasicOverHttp"] = "true",
        ["Bits:Authentication:BasicUsers:alice"] = BitsPasswordHasher.Hash("alice-pw", 1000),
        ["Bits:Areas:events:PathPrefix"] = "events",
        ["Bits:Areas:events:BlobPrefix"] = "events/",
        ["Bits:Areas:events:CompletionQueue"] = "done",
    };

    [Fact]
    public async Task Startup_RefusesAStoreWithoutAFeatureAnAreaUses_NamingTheAreaAndTheFeature()
    {
        var refused = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => TestHost.StartAsync(
            StorageNames.Unique(azurite.ConnectionString),
            AreasUsingEveryFeature(),
            builder => builder.Services.AddSingleton(BareBitsUploadStore.Create())));

        Assert.Equal(typeof(BitsStoreFeatures), refused.OptionsType);
        Assert.Contains(refused.Failures, f => f.StartsWith("Area 'reply': upload-reply", StringComparison.Ordinal) && f.Contains("IBitsReplyStore", StringComparison.Ordinal));
        Assert.Contains(refused.Failures, f => f.StartsWith("Area 'quota': the per-user session limit", StringComparison.Ordinal) && f.Contains("IBitsExpiryStore", StringComparison.Ordinal));
        Assert.Contains(refused.Failures, f => f.StartsWith("Area 'events': completion events", StringComparison.Ordinal) && f.Contains("IBitsEventStore", StringComparison.Ordinal));
        Assert.Contains(refused.Failures, f => f.StartsWith("Bits:Janitor: session expiry", StringComparison.Ordinal) && f.Contains("IBitsExpiryStore", StringComparison.Ordinal));
        Assert.Equal(4, refused.Failures.Count());
    }

    [Fact]
    public async Task Startup_TheAzureStoreServesEveryFeature()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite.ConnectionString), AreasUsingEveryFeature());

        Assert.Empty(BitsStoreFeatures.Missing(
            host.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value,
            host.Services.GetRequiredService<IBitsUploadStore>(),
            host.Services.GetService<IBitsCompletionSink>()));
    }
}

using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Bits.Host.Tests;

/// <summary>Start-up refuses a key under <c>Bits:</c> or <c>BitsStorage:</c> that no option binds (issue 17, point 5).</summary>
public class SettingsCheckTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData("Bits:Janitor:HostedService", "Bits:Janitor:Enabled")]
    [InlineData("BitsStorage:SegmentBytes", "delete the setting")]
    public async Task Startup_RemovedKey_FailsSayingWhatToDoInstead(string key, string instead)
    {
        var settings = new Dictionary<string, string?> { [key] = "1" };

        var refused = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => TestHost.StartAsync(StorageNames.Unique(azurite.ConnectionString), settings));

        Assert.Contains($"Unknown setting '{key}': it was removed", refused.Message, StringComparison.Ordinal);
        Assert.Contains(instead, refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Bits:Authentcation:AllowAnonymous", "false")]
    [InlineData("Bits:Areas:secure:Authentcation:AllowAnonymous", "false")]
    [InlineData("Bits:Areas:secure:Authentication:Basics", "true")]
    [InlineData("Bits:Authentication:BasicUsers:alice:Hash", "x")]
    [InlineData("Bits:Areas:secure:Authentication:BasicUsers:alice", "x")] // credentials are shared, not per area
    [InlineData("Bits:Authentication:BearerTokens:Authorty", "https://issuer.example/")]
    [InlineData("Bits:MaxFragmentByte", "5120")]
    [InlineData("Bits:Janitor:HostedService", "false")] // removed: the Functions app turns the hosted service off in code
    [InlineData("Bits:Telemetry:Consol", "true")]
    [InlineData("BitsStorage:UploadContainr", "other")]
    public async Task Startup_KeyNoOptionBinds_FailsNamingIt(string key, string value)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Areas:secure:PathPrefix"] = "secure",
            ["Bits:Areas:secure:BlobPrefix"] = "secure/",
            [key] = value,
        };

        var refused = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => TestHost.StartAsync(storage, settings));

        Assert.Contains($"Unknown setting '{key}'", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Startup_AreaDictionaryAndListKeys_AreAccepted()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Areas:Secure:pathprefix"] = "secure",
            ["Bits:Areas:Secure:BlobPrefix"] = "secure/",
            ["Bits:Areas:Secure:Authentication:AllowAnonymous"] = "false",
            ["Bits:Areas:Secure:Authentication:Basic"] = "true",
            ["Bits:Areas:Secure:Authentication:AllowedUsers:0"] = "basic:alice",
            ["Bits:Areas:Secure:MaxSessionsPerUser"] = "3",
            ["Bits:Authentication:BasicUsers:alice"] = BitsPasswordHasher.Hash("alice-pw", 1000),
            ["Bits:Authentication:BearerTokens:ValidIssuers:0"] = "https://issuer.example/",
            ["Bits:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
            ["Bits:Telemetry:Console"] = "false",
            ["BITS:JANITOR:INTERVAL"] = "00:10:00",
        };

        await using var host = await TestHost.StartAsync(storage, settings);

        Assert.Equal(3, host.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value.Areas["secure"].MaxSessionsPerUser);
    }

    /// <summary>Old names are refused like any unknown key, and the message names the new one (no silent aliases).</summary>
    [Theory]
    [InlineData("Bits:Auth:BasicUsers:alice", "Bits:Authentication:BasicUsers:alice")]
    [InlineData("Bits:Auth:AllowBasicOverHttp", "Bits:Authentication:AllowBasicOverHttp")]
    [InlineData("Bits:Auth:Bearer:Authority", "Bits:Authentication:BearerTokens:Authority")]
    [InlineData("Bits:Auth:Bearer:Audience", "Bits:Authentication:BearerTokens:Audience")]
    [InlineData("Bits:auth:bearer:ValidIssuers:0", "Bits:Authentication:BearerTokens:ValidIssuers:0")]
    [InlineData("Bits:UploadsEnabled", "Bits:Enabled")] // the default area takes the same key names as any area
    public async Task Startup_RenamedKey_FailsNamingTheNewName(string key, string renamed)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);

        var refused = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => TestHost.StartAsync(storage, new Dictionary<string, string?> { [key] = "false" }));

        Assert.Contains($"Unknown setting '{key}': it was renamed to '{renamed}'", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Startup_MergedAuthenticationSection_BindsTheSwitchesAndTheCredentials()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Authentication:AllowAnonymous"] = "false",
            ["Bits:Authentication:Bearer"] = "true",
            ["Bits:Authentication:BasicUsers:alice"] = BitsPasswordHasher.Hash("alice-pw", 1000),
            ["Bits:Authentication:AllowBasicOverHttp"] = "true",
            ["Bits:Authentication:BearerTokens:Authority"] = "https://issuer.example/tenant/v2.0",
            ["Bits:Authentication:BearerTokens:Audience"] = "api://bits",
            ["Bits:Authentication:BearerTokens:ValidIssuers:0"] = "https://issuer.example/tenant/",
        };

        await using var host = await TestHost.StartAsync(storage, settings);

        var rule = host.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value.Authentication;
        var credentials = host.Services.GetRequiredService<IOptions<BitsAuthServerOptions>>().Value;
        Assert.True(rule.Bearer);
        Assert.False(rule.AllowAnonymous);
        Assert.True(credentials.AllowBasicOverHttp);
        Assert.True(BitsPasswordHasher.IsValidHash(credentials.BasicUsers["alice"]));
        Assert.Equal("https://issuer.example/tenant/v2.0", credentials.BearerTokens.Authority);
        Assert.Equal("api://bits", credentials.BearerTokens.Audience);
        Assert.Equal(["https://issuer.example/tenant/"], credentials.BearerTokens.ValidIssuers);
    }
}

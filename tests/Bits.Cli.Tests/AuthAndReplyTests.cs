using System.Security.Cryptography;
using System.Text;
using Bits.AspNetCore;
using Bits.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bits.Cli.Tests;

/// <summary>Credentials and headers reach the server; <c>--reply</c> downloads an upload-reply before Close-Session.</summary>
public sealed class AuthAndReplyTests(AzuriteFixture azurite)
{
    private static readonly string AliceHash = BitsPasswordHasher.Hash("alice-pw", 1000);
    private static readonly string BobHash = BitsPasswordHasher.Hash("bob pw \u00e9", 1000);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<CliHost> StartSecureAsync() => CliHost.StartAsync(azurite, new Dictionary<string, string?>
    {
        ["Bits:Authentication:AllowBasicOverHttp"] = "true",
        ["Bits:Authentication:BasicUsers:alice"] = AliceHash,
        ["Bits:Authentication:BasicUsers:bob"] = BobHash,
        ["Bits:Areas:secure:PathPrefix"] = "secure",
        ["Bits:Areas:secure:BlobPrefix"] = "secure/",
        ["Bits:Areas:secure:Authentication:AllowAnonymous"] = "false",
        ["Bits:Areas:secure:Authentication:Basic"] = "true",
    });

    private static async Task<string?> UploaderAsync(CliHost host, string blob)
    {
        var properties = await host.Uploads.GetBlobClient(blob).GetPropertiesAsync(cancellationToken: Ct);
        return properties.Value.Metadata.TryGetValue("bitsuploader", out var user) ? Uri.UnescapeDataString(user) : null;
    }

    [Fact]
    public async Task UserWithPasswordOnStdin_IsSentAsBasic_AndRecordedOnTheBlob()
    {
        await using var host = await StartSecureAsync();
        using var folder = new TempFolder();
        var file = folder.WriteRandom("q4.bin", 90_000, seed: 10);

        var run = await Cli.RunAsync(["upload", folder.File("q4.bin"), host.Url("secure/q4.bin").AbsoluteUri, "--user", "alice", "--password-stdin", "--fragment", "32KiB"], stdin: "alice-pw\n");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(file, await host.ReadPublishedAsync("secure/q4.bin"));
        Assert.Equal("alice", await UploaderAsync(host, "secure/q4.bin"));
        Assert.DoesNotContain("alice-pw", run.Stdout + run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HeaderOption_ReachesTheServer()
    {
        await using var host = await StartSecureAsync();
        using var folder = new TempFolder();
        var file = folder.WriteRandom("h.bin", 5_000, seed: 11);
        var authorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:bob pw \u00e9"));

        var run = await Cli.RunAsync(["upload", folder.File("h.bin"), host.Url("secure/h.bin").AbsoluteUri, "--header", $"Authorization: {authorization}", "-H", "X-Trace: cli-test"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(file, await host.ReadPublishedAsync("secure/h.bin"));
        Assert.Equal("bob", await UploaderAsync(host, "secure/h.bin"));
    }

    [Fact]
    public async Task WrongPasswordFromTheEnvironment_Exit2_SaysCredentialsWereRefused_WithoutPrintingThePassword()
    {
        await using var host = await StartSecureAsync();
        using var folder = new TempFolder();
        folder.WriteRandom("w.bin", 5_000, seed: 12);

        var run = await Cli.RunAsync(
            ["upload", folder.File("w.bin"), host.Url("secure/w.bin").AbsoluteUri, "--user", "alice", "--json"],
            environment: new Dictionary<string, string?> { ["BITS_PASSWORD"] = "not-alices-password" });

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("HTTP 401", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("credentials", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(401, (int)run.Json["error"]!["httpStatus"]!);
        Assert.DoesNotContain("not-alices-password", run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:not-alices-password")), run.Stdout + run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UserWithoutAPassword_IsAUsageError()
    {
        var run = await Cli.RunAsync(["upload", Cli.DllPath, "http://127.0.0.1:9/uploads/x.bin", "--user", "alice"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("--password-stdin", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reply_IsDownloadedBeforeTheSessionCloses()
    {
        await using var backEnd = await StartBackEndAsync();
        await using var host = await CliHost.StartAsync(azurite, new Dictionary<string, string?>
        {
            ["Bits:Areas:reply:PathPrefix"] = "reply",
            ["Bits:Areas:reply:BlobPrefix"] = "reply/",
            ["Bits:Areas:reply:NotificationType"] = "ByValue",
            ["Bits:Areas:reply:NotificationUrl"] = new Uri(backEnd.Root, "backend/value").AbsoluteUri,
        });
        using var folder = new TempFolder();
        var file = folder.WriteRandom("in.bin", 150_000, seed: 13);
        var replyPath = folder.File("reply.txt");

        var run = await Cli.RunAsync(["upload", folder.File("in.bin"), host.Url("reply/in.bin").AbsoluteUri, "--reply", replyPath, "--fragment", "64KiB", "--json"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("sha256:" + Convert.ToHexString(SHA256.HashData(file)), await File.ReadAllTextAsync(replyPath, Ct));
        var reply = run.Json["reply"]!;
        Assert.Equal(replyPath, (string)reply["path"]!);
        Assert.Equal(71, (long)reply["bytes"]!);
        Assert.False(File.Exists(replyPath + ".partial"));
        Assert.Equal(0, await host.SessionRowCountAsync()); // closed after the download
    }

    private static async Task<BackEnd> StartBackEndAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/backend/value", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            await context.Response.WriteAsync("sha256:" + Convert.ToHexString(SHA256.HashData(buffer.ToArray())));
        });
        await app.StartAsync(Ct);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BackEnd(app, new Uri(address.TrimEnd('/') + "/"));
    }

    private sealed record BackEnd(WebApplication App, Uri Root) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}

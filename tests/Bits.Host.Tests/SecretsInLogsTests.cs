using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Text;
using System.Text.RegularExpressions;
using Azure.Core.Diagnostics;
using Bits.AspNetCore;
using Bits.Testing;
using Microsoft.Extensions.Logging;

namespace Bits.Host.Tests;

/// <summary>Passwords, hashes, tokens, SAS signatures and account keys never reach a log line, at any level.</summary>
public partial class SecretsInLogsTests(AzuriteFixture azurite)
{
    private const string Password = "S3cret-pa55word!";
    private const string BearerToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UploadWithBasicAuth_AndRefusedCredentials_LogNoSecret_EvenAtTraceLevel()
    {
        var hash = BitsPasswordHasher.Hash(Password, 1000);
        var lines = new ConcurrentQueue<string>();
        using var sdk = new AzureEventSourceListener((e, message) => lines.Enqueue("azure-sdk: " + message), EventLevel.Verbose);
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using (var host = await TestHost.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Bits:Authentication:AllowAnonymous"] = "false",
            ["Bits:Authentication:Basic"] = "true",
            ["Bits:Authentication:AllowBasicOverHttp"] = "true",
            ["Bits:Authentication:BasicUsers:alice"] = hash,
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace",
            ["Logging:LogLevel:Azure"] = "Trace",
        }, builder =>
        {
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
            builder.Logging.AddProvider(new LogCapture(lines));
        }))
        {
            using var http = new HttpClient();
            var url = host.Url("secret/report.bin");
            var good = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + Password));
            var wrong = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + Password + "x"));

            foreach (var refused in new[] { wrong, "Bearer " + BearerToken, "Basic " + Password })
            {
                using var response = await http.SendAsync(With(HttpBits.Create(url), refused), Ct);
                response.AssertAck(401);
            }

            string id;
            using (var create = await http.SendAsync(With(HttpBits.Create(url), good), Ct))
            {
                create.AssertAck(200);
                id = create.Header("BITS-Session-Id")!;
            }

            var file = new byte[5000];
            using (var fragment = await http.SendAsync(With(HttpBits.Fragment(url, id, file, 0, 5000), good), Ct))
            {
                fragment.AssertAck(200);
            }

            using var close = await http.SendAsync(With(HttpBits.Packet(url, "Close-Session", id), good), Ct);
            close.AssertAck(200);
        }

        var secrets = new[]
        {
            Password, Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + Password)), hash, hash.Split('$')[^1], BearerToken,
            AzuriteProcess.AccountKey,
        };
        Assert.NotEmpty(lines);
        Assert.Contains(lines, l => l.Contains("alice", StringComparison.Ordinal)); // the user name is logged, as documented
        Assert.Contains(lines, l => l.Contains("comp=blocklist", StringComparison.OrdinalIgnoreCase)); // the storage requests were logged
        foreach (var line in lines)
        {
            foreach (var secret in secrets)
            {
                Assert.False(line.Contains(secret, StringComparison.Ordinal), $"a secret in the log: {line}");
            }

            Assert.False(SasSignature().IsMatch(line), $"a SAS signature in the log: {line}");
        }
    }

    private static HttpRequestMessage With(HttpRequestMessage request, string authorization)
    {
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    [GeneratedRegex("sig=(?!REDACTED)", RegexOptions.IgnoreCase)]
    private static partial Regex SasSignature();
}

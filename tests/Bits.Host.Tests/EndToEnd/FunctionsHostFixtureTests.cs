using System.Net;
using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>Proves that the Functions-host scenarios really run on the Azure Functions host, not on something else.</summary>
public class FunctionsHostFixtureTests(AzuriteFixture azurite, EndToEndHosts hosts)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FunctionsHost_MapsTheUploadRoute_AndAnswers401ItselfWithoutAKey()
    {
        var host = await hosts.GetAsync(HostKind.Functions, azurite);
        using var anonymous = new HttpClient();
        using var keyed = host.CreateHttpClient();

        using var withoutKey = await anonymous.SendAsync(HttpBits.Packet(host.Url("fixture/a.bin"), "Ping"), Ct);
        using var wrongKey = await anonymous.SendAsync(WithKey(HttpBits.Packet(host.Url("fixture/a.bin"), "Ping"), "not-the-key"), Ct);
        using var withKey = await keyed.SendAsync(HttpBits.Packet(host.Url("fixture/a.bin"), "Ping"), Ct);
        using var codeInQuery = await anonymous.SendAsync(HttpBits.Packet(new Uri(host.Url("fixture/a.bin") + "?code=" + Uri.EscapeDataString(host.Process!.FunctionKey)), "Ping"), Ct);

        // The host's own log line for the trigger's route, from the process these tests talk to.
        Assert.Contains(host.Process!.Log, line => line.Contains(FunctionsHostProcess.UploadRouteLogLine + " [all] to 'BitsUpload'", StringComparison.Ordinal));

        // The host answers 401 itself: no BITS Ack, the app never saw the request.
        Assert.Equal(HttpStatusCode.Unauthorized, withoutKey.StatusCode);
        Assert.Null(withoutKey.Header("BITS-Packet-Type"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrongKey.StatusCode);
        Assert.Null(wrongKey.Header("BITS-Packet-Type"));
        withKey.AssertAck(200);
        codeInQuery.AssertAck(200);
    }

    [Fact]
    public async Task FunctionsHost_WhenNotConfigured_IsSkippedWithOneLineTellingHowToEnableIt()
    {
        // The reason a skipped scenario prints: one line, naming the variable and the folder to set it to.
        Assert.DoesNotContain('\n', FunctionsHostProcess.SkipReason);
        Assert.Contains(FunctionsHostProcess.DirectoryVariable + "=../shared/functions-host", FunctionsHostProcess.SkipReason, StringComparison.Ordinal);

        // A folder without the host build is an error with the reason, not a skip.
        var empty = Directory.CreateTempSubdirectory("no-fnhost-").FullName;
        try
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
                FunctionsHostProcess.StartAsync(empty, FunctionsApp.OutputDirectory, azurite.ConnectionString, new Dictionary<string, string?>(), Ct));
            Assert.Contains("no start.sh", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    private static HttpRequestMessage WithKey(HttpRequestMessage request, string key)
    {
        request.Headers.Add("x-functions-key", key);
        return request;
    }
}

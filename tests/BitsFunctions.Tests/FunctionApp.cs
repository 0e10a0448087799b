using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Bits.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace BitsFunctions.Tests;

/// <summary>Files of the repository and of the Functions app's build output.</summary>
public static class RepoFiles
{
    public static string Root { get; } = RepositoryRoot.Find();

    public static string LocalSettingsSample => Path.Combine(Root, "local.settings.sample.json");

    public static string Readme => Path.Combine(Root, "README.md");

    public static string HostJson => Path.Combine(Root, "host.json");

    /// <summary>src/BitsFunctions/bin/&lt;Configuration&gt;/&lt;TargetFramework&gt;, built with the same configuration as the tests.</summary>
    public static string FunctionsOutput => Path.Combine(Root, "src", "BitsFunctions", "bin", Metadata("BuildConfiguration"), Metadata("TargetFramework"));

    /// <summary>The <c>Values</c> of local.settings.sample.json, keys as written (<c>Section__Property</c>).</summary>
    public static IReadOnlyDictionary<string, string?> SampleValues()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(LocalSettingsSample));
        return document.RootElement.GetProperty("Values").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.ToString(), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The sample's values as configuration keys (<c>__</c> becomes <c>:</c>, as the Functions host does).</summary>
    public static Dictionary<string, string?> SampleConfiguration() =>
        SampleValues().ToDictionary(p => p.Key.Replace("__", ":", StringComparison.Ordinal), p => p.Value, StringComparer.OrdinalIgnoreCase);

    private static string Metadata(string key) =>
        typeof(RepoFiles).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"Assembly metadata {key} is empty.");
}

/// <summary>
/// The Functions app's services, registered by <see cref="BitsFunctionsApp.ConfigureServices"/> (as Program.cs does)
/// from the settings of local.settings.sample.json plus overrides, in a started generic host (start-up validation and
/// the storage initializer run). The trigger is then invoked as the worker's ASP.NET Core integration does.
/// </summary>
public sealed class FunctionApp : IAsyncDisposable
{
    public const string BitsProtocol = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

    private readonly IHost _host;

    private FunctionApp(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    public static async Task<FunctionApp> StartAsync(IDictionary<string, string?> overrides, Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(RepoFiles.SampleConfiguration());
        builder.Configuration.AddInMemoryCollection(overrides);
        BitsFunctionsApp.ConfigureServices(builder.Services, builder.Configuration);
        configure?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return new FunctionApp(host);
    }

    /// <summary>
    /// Calls <see cref="BitsUploadFunction.RunAsync"/> with a real <see cref="DefaultHttpContext"/> for
    /// <paramref name="target"/> (the raw request target, e.g. <c>/uploads/a.bin?code=x</c>), then executes the returned
    /// result the way the worker's proxying middleware does, so anything that would overwrite the Ack shows.
    /// </summary>
    public async Task<HttpResponse> InvokeAsync(string target, IEnumerable<(string Name, string Value)> headers, byte[]? body = null, string method = "BITS_POST")
    {
        var context = new DefaultHttpContext { RequestServices = Services };
        var request = context.Request;
        request.Method = method;
        var query = target.IndexOf('?', StringComparison.Ordinal);
        request.Path = PathString.FromUriComponent(query >= 0 ? target[..query] : target);
        request.QueryString = query >= 0 ? new QueryString(target[query..]) : QueryString.Empty;
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = target;
        foreach (var (name, value) in headers)
        {
            request.Headers.Append(name, value);
        }

        body ??= [];
        request.ContentLength = body.Length;
        request.Body = new MemoryStream(body, writable: false);
        context.Response.Body = new MemoryStream();

        var result = await BitsUploadFunction.RunAsync(request);
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new ActionDescriptor()));
        Assert.Equal(0, context.Response.Body.Length);
        return context.Response;
    }

    public Task<HttpResponse> PacketAsync(string target, string type, string? sessionId = null)
    {
        var headers = new List<(string, string)> { ("BITS-Packet-Type", type) };
        if (sessionId is not null)
        {
            headers.Add(("BITS-Session-Id", sessionId));
        }

        return InvokeAsync(target, headers);
    }

    public async Task<string> CreateSessionAsync(string target)
    {
        var ack = await InvokeAsync(target, [("BITS-Packet-Type", "Create-Session"), ("BITS-Supported-Protocols", BitsProtocol)]);
        ack.AssertAck(200);
        return ack.Headers["BITS-Session-Id"].ToString();
    }

    public Task<HttpResponse> FragmentAsync(string target, string sessionId, byte[] file, int first, int length) =>
        InvokeAsync(target,
        [
            ("BITS-Packet-Type", "Fragment"),
            ("BITS-Session-Id", sessionId),
            ("Content-Name", "file.bin"),
            ("Content-Range", string.Create(CultureInfo.InvariantCulture, $"bytes {first}-{first + length - 1}/{file.Length}")),
        ], file.AsSpan(first, length).ToArray());

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        _host.Dispose();
    }
}

public static class AckAssertions
{
    public static void AssertAck(this HttpResponse response, int status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("Ack", response.Headers["BITS-Packet-Type"].ToString());
        Assert.Equal(0, response.ContentLength);
    }

    public static long Received(this HttpResponse response) =>
        long.Parse(response.Headers["BITS-Received-Content-Range"].ToString(), CultureInfo.InvariantCulture);
}

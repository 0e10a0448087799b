using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: AssemblyFixture(typeof(Bits.Host.Tests.EndToEnd.EndToEndHosts))]

namespace Bits.Host.Tests.EndToEnd;

/// <summary>The two hosts every shared end-to-end scenario runs on.</summary>
public enum HostKind
{
    /// <summary>The Kestrel host (<see cref="BitsHostApp"/>) in the test process.</summary>
    Kestrel,

    /// <summary>The real Azure Functions host as a process, over <c>src/BitsFunctions</c>'s build output.</summary>
    Functions,
}

/// <summary>Theory data: each scenario once per host.</summary>
public static class Hosts
{
    public static TheoryData<HostKind> Both => new(HostKind.Kestrel, HostKind.Functions);
}

/// <summary>
/// One shared host per kind for the whole assembly (an xunit assembly fixture), both on the same settings
/// (<see cref="Settings"/>: every area and option the scenarios need), each on its own containers and table in the
/// assembly's Azurite. Scenarios isolate themselves by unique file names. Hosts start on first use: the Functions host
/// only when <see cref="FunctionsHostProcess.DirectoryVariable"/> is set (otherwise its scenarios are skipped with
/// <see cref="FunctionsHostProcess.SkipReason"/>); when set but the host cannot start, they fail with the reason.
/// </summary>
public sealed class EndToEndHosts : IAsyncLifetime
{
    public const string Alice = "alice";
    public const string AlicePassword = "alice-pw";
    public const string Bob = "bob";
    public const string BobPassword = "bob pw \u00e9";

    /// <summary>Fragments above this get 413 on both hosts (above the client's 13 MB, below 16 MiB).</summary>
    public const long MaxFragmentBytes = 14 * 1024 * 1024;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<HostKind, Task<EndToEndHost>> _hosts = [];
    private readonly List<IAsyncDisposable> _owned = [];
    private ReplyBackEnd? _backEnd;

    public ReplyBackEnd BackEnd => _backEnd ?? throw new InvalidOperationException("Not initialised.");

    public async ValueTask InitializeAsync() => _backEnd = await ReplyBackEnd.StartAsync();

    /// <summary>The shared host of <paramref name="kind"/> (started on first use); skips the test when it is not configured.</summary>
    public async Task<EndToEndHost> GetAsync(HostKind kind, AzuriteFixture azurite)
    {
        if (kind == HostKind.Functions && FunctionsHostProcess.ConfiguredDirectory() is null)
        {
            Assert.Skip(FunctionsHostProcess.SkipReason);
        }

        Task<EndToEndHost> start;
        await _gate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (!_hosts.TryGetValue(kind, out start!))
            {
                // Not the test's token: the host outlives the test that happened to start it.
                start = StartAsync(kind, azurite, extra: null);
                _hosts[kind] = start;
            }
        }
        finally
        {
            _gate.Release();
        }

        return await start;
    }

    /// <summary>A host of its own for a scenario that needs other settings (disposed with the assembly).</summary>
    public async Task<EndToEndHost> StartDedicatedAsync(HostKind kind, AzuriteFixture azurite, IDictionary<string, string?> extra)
    {
        if (kind == HostKind.Functions && FunctionsHostProcess.ConfiguredDirectory() is null)
        {
            Assert.Skip(FunctionsHostProcess.SkipReason);
        }

        return await StartAsync(kind, azurite, extra);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        if (_backEnd is not null)
        {
            await _backEnd.DisposeAsync();
        }
    }

    /// <summary>The settings both hosts run with (storage names come on top).</summary>
    public Dictionary<string, string?> Settings(string areaContainer, string completionQueue) => new()
    {
        ["Bits:MaxFragmentBytes"] = MaxFragmentBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Bits:Janitor:Enabled"] = "true",
        ["Bits:Authentication:AllowBasicOverHttp"] = "true",
        ["Bits:Authentication:BasicUsers:" + Alice] = BitsPasswordHasher.Hash(AlicePassword, 1000),
        ["Bits:Authentication:BasicUsers:" + Bob] = BitsPasswordHasher.Hash(BobPassword, 1000),
        ["Bits:Areas:reports:PathPrefix"] = "reports",
        ["Bits:Areas:reports:Container"] = areaContainer,
        ["Bits:Areas:reports:BlobPrefix"] = "in/",
        ["Bits:Areas:reports:MaxUploadBytes"] = "100000",
        ["Bits:Areas:archive:PathPrefix"] = "archive",
        ["Bits:Areas:archive:BlobPrefix"] = "archive/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:archive:Enabled"] = "false",
        ["Bits:Areas:overwrite:PathPrefix"] = "overwrite",
        ["Bits:Areas:overwrite:BlobPrefix"] = "overwrite/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:overwrite:AllowOverwrites"] = "true",
        ["Bits:Areas:secure:PathPrefix"] = "secure",
        ["Bits:Areas:secure:BlobPrefix"] = "secure/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:secure:Authentication:AllowAnonymous"] = "false",
        ["Bits:Areas:secure:Authentication:Basic"] = "true",
        ["Bits:Areas:secure:Authentication:Realm"] = "Secure uploads",
        ["Bits:Areas:value:PathPrefix"] = "reply-value",
        ["Bits:Areas:value:BlobPrefix"] = "reply-value/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:value:NotificationType"] = "ByValue",
        ["Bits:Areas:value:NotificationUrl"] = BackEnd.Url("backend/value").AbsoluteUri,
        ["Bits:Areas:copy:PathPrefix"] = "reply-copy",
        ["Bits:Areas:copy:BlobPrefix"] = "reply-copy/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:copy:NotificationType"] = "ByValue",
        ["Bits:Areas:copy:NotificationUrl"] = BackEnd.Url("backend/value?copy=1").AbsoluteUri,
        ["Bits:Areas:reference:PathPrefix"] = "reply-ref",
        ["Bits:Areas:reference:BlobPrefix"] = "reply-ref/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:reference:NotificationType"] = "ByReference",
        ["Bits:Areas:reference:NotificationUrl"] = BackEnd.Url("backend/reference").AbsoluteUri,
        ["Bits:Areas:events:PathPrefix"] = "events",
        ["Bits:Areas:events:BlobPrefix"] = "events/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:events:CompletionQueue"] = completionQueue,
        ["Bits:Areas:quick:PathPrefix"] = "quick",
        ["Bits:Areas:quick:BlobPrefix"] = "quick/", // exact shadowing: no name shared with the default area
        ["Bits:Areas:quick:SessionTimeout"] = "00:00:00.001",
    };

    private async Task<EndToEndHost> StartAsync(HostKind kind, AzuriteFixture azurite, IDictionary<string, string?>? extra)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var suffix = Guid.NewGuid().ToString("N")[..10];
        var areaContainer = "area-" + suffix;
        var queue = "done-" + suffix;
        var settings = Settings(areaContainer, queue);
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        EndToEndHost host;
        if (kind == HostKind.Kestrel)
        {
            var kestrel = await TestHost.StartAsync(storage, settings);
            host = new EndToEndHost(kind, kestrel.Root, storage, areaContainer, queue, BackEnd, kestrel, null);
        }
        else
        {
            settings = storage.Settings(settings);
            settings["Bits:PublicBaseUrl"] = FunctionsHostProcess.HostRootPlaceholder; // what back-ends are told, as in Azure
            var process = await FunctionsHostProcess.StartAsync(FunctionsHostProcess.ConfiguredDirectory()!, FunctionsApp.OutputDirectory, storage.ConnectionString, settings);
            host = new EndToEndHost(kind, process.Root, storage, areaContainer, queue, BackEnd, null, process);
        }

        lock (_owned)
        {
            _owned.Add(host);
        }

        return host;
    }
}

/// <summary>Where the Functions app's build output is (built with the solution, in the tests' configuration).</summary>
public static class FunctionsApp
{
    public static string OutputDirectory { get; } = Path.Combine(
        RepositoryRoot.Find(), "src", "BitsFunctions", "bin", Metadata("FunctionsConfiguration"), Metadata("FunctionsTargetFramework"));

    private static string Metadata(string key) =>
        typeof(FunctionsApp).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"Assembly metadata {key} is empty.");
}

/// <summary>One running host as the scenarios see it: its URLs, storage, keys and the janitor.</summary>
public sealed class EndToEndHost(HostKind kind, Uri root, StorageNames storage, string areaContainer, string completionQueue, ReplyBackEnd backEnd, TestHost? kestrel, FunctionsHostProcess? functions) : IAsyncDisposable
{
    public HostKind Kind { get; } = kind;

    public Uri Root { get; } = root;

    public Uri UploadBase => new(Root, "uploads/");

    public StorageNames Storage { get; } = storage;

    public string AreaContainer { get; } = areaContainer;

    public string CompletionQueue { get; } = completionQueue;

    public ReplyBackEnd BackEnd { get; } = backEnd;

    /// <summary>The Functions host process (null for Kestrel).</summary>
    public FunctionsHostProcess? Process { get; } = functions;

    /// <summary>A URL under <c>/uploads/</c>; <paramref name="path"/> is taken as already URL-encoded.</summary>
    public Uri Url(string path) => new(UploadBase, path);

    /// <summary>The headers every request to this host carries: the function key on the Functions host.</summary>
    public IEnumerable<(string Name, string Value)> KeyHeaders =>
        Process is null ? [] : [("x-functions-key", Process.FunctionKey)];

    /// <summary>An HttpClient that sends <see cref="KeyHeaders"/> with every request.</summary>
    public HttpClient CreateHttpClient(bool allowAutoRedirect = true) => new(CreateHandler(allowAutoRedirect));

    /// <summary>
    /// An HttpClient (with <see cref="KeyHeaders"/>) whose connections come from <paramref name="source"/>, another
    /// loopback address such as <c>127.0.0.2</c>: a client at an address of its own, for per-address limits.
    /// </summary>
    public HttpClient CreateHttpClientFrom(IPAddress source) => new(new KeyHandler(KeyHeaders.ToList())
    {
        InnerHandler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(source.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        },
    });

    /// <summary>A handler that sends <see cref="KeyHeaders"/> with every request.</summary>
    public HttpMessageHandler CreateHandler(bool allowAutoRedirect = true) =>
        new KeyHandler(KeyHeaders.ToList()) { InnerHandler = new SocketsHttpHandler { AllowAutoRedirect = allowAutoRedirect } };

    /// <summary>Sends a request exactly as written, with <see cref="KeyHeaders"/> added.</summary>
    public Task<(int Status, Dictionary<string, string> Headers)> SendRawAsync(string requestTarget, string method, IEnumerable<(string Name, string Value)> headers, byte[]? body = null) =>
        RawHttp.SendAsync(Root, requestTarget, method, KeyHeaders.Concat(headers), body);

    /// <summary>
    /// One janitor run: the Kestrel host's <see cref="BitsSessionJanitor"/>, or the Functions app's timer trigger invoked
    /// through the host's admin endpoint (<c>POST /admin/functions/BitsJanitor</c>, master key), awaited until the
    /// host logs the invocation as executed.
    /// </summary>
    public async Task RunJanitorAsync()
    {
        if (Process is null)
        {
            await kestrel!.Services.GetRequiredService<BitsSessionJanitor>().RunOnceAsync(TestContext.Current.CancellationToken);
        }
        else
        {
            var line = await Process.InvokeAsync("BitsJanitor", TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            Assert.Contains("Succeeded", line, StringComparison.Ordinal);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (kestrel is not null)
        {
            await kestrel.DisposeAsync();
        }

        if (Process is not null)
        {
            await Process.DisposeAsync();
        }
    }

    public override string ToString() => Kind.ToString();

    private sealed class KeyHandler(List<(string Name, string Value)> headers) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>
/// The upload-reply back-end on loopback, shared by both hosts (so it runs before either starts): by value it answers
/// <c>sha256:&lt;hex&gt;</c> of the body, by reference it reads the upload and writes the reply through the SAS URLs.
/// Calls are recorded by the BITS-Original-Request-URL the host sends.
/// </summary>
public sealed class ReplyBackEnd : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _download;

    private ReplyBackEnd(WebApplication app, HttpClient download, Uri root)
    {
        _app = app;
        _download = download;
        Root = root;
    }

    public Uri Root { get; }

    public ConcurrentQueue<(string Path, string Original, long Length, string? Query)> Calls { get; } = new();

    public Uri Url(string path) => new(Root, path);

    /// <summary>The calls made for one upload URL (scenarios use unique names, so this is one test's).</summary>
    public List<(string Path, string Original, long Length, string? Query)> CallsFor(string fileName) =>
        Calls.Where(c => c.Original.Contains(fileName, StringComparison.Ordinal)).ToList();

    public static async Task<ReplyBackEnd> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var download = new HttpClient();
        ReplyBackEnd? self = null;

        app.MapPost("/backend/value", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            self!.Record(context, buffer.Length);
            if (context.Request.Query.ContainsKey("copy"))
            {
                context.Response.Headers["BITS-Copy-File-To-Destination"] = "1";
            }

            await context.Response.WriteAsync("sha256:" + Convert.ToHexString(SHA256.HashData(buffer.ToArray())));
        });

        app.MapPost("/backend/reference", async (HttpContext context) =>
        {
            var requestData = context.Request.Headers["BITS-Request-DataFile-Name"].ToString();
            var responseData = context.Request.Headers["BITS-Response-DataFile-Name"].ToString();
            var bytes = await download.GetByteArrayAsync(new Uri(requestData));
            self!.Record(context, bytes.Length);
            using var put = new HttpRequestMessage(HttpMethod.Put, new Uri(responseData))
            {
                Content = new ByteArrayContent(Encoding.UTF8.GetBytes("ref-sha256:" + Convert.ToHexString(SHA256.HashData(bytes)))),
            };
            put.Headers.Add("x-ms-blob-type", "BlockBlob");
            (await download.SendAsync(put)).EnsureSuccessStatusCode();
            context.Response.StatusCode = 200;
        });

        await app.StartAsync();
        var root = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");
        self = new ReplyBackEnd(app, download, root);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _download.Dispose();
    }

    private void Record(HttpContext context, long length) =>
        Calls.Enqueue((context.Request.Path, context.Request.Headers["BITS-Original-Request-URL"].ToString(), length, context.Request.QueryString.Value));
}

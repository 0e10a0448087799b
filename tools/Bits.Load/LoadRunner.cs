using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Azure;
using Bits.Client;
using Bits.Testing;

namespace Bits.Load;

/// <summary>One host, or two hosts sharing the storage account with every client alternating its packets between them.</summary>
public enum LoadTopology
{
    OneHost = 1,
    TwoHosts = 2,
}

/// <summary>Settings of one load run (see <c>./load.sh --help</c>).</summary>
public sealed record LoadOptions
{
    public int Sessions { get; init; } = 64;

    /// <summary>File sizes are drawn uniformly from 0..MaxSize bytes.</summary>
    public long MaxSize { get; init; } = 64L * 1024 * 1024;

    public long MinFragment { get; init; } = 5 * 1024;

    public long MaxFragment { get; init; } = 13L * 1024 * 1024;

    /// <summary>Share of fragments (after the first acknowledged one) that are retransmits or overlaps.</summary>
    public double FaultRate { get; init; } = 0.1;

    public int Seed { get; init; } = 1;

    /// <summary>Upper bound of the whole run (uploads, verification, leftover check); the run is cancelled after it.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Uploads running at once; 0 means all sessions at once.</summary>
    public int Concurrency { get; init; }

    /// <summary>The hosts' <c>Bits:FragmentMemoryBytes</c>; 0 keeps the default.</summary>
    public long FragmentMemoryBytes { get; init; }

    /// <summary>The hosts' <c>Bits:MaxFragmentBytes</c>; 0 keeps the default.</summary>
    public long MaxFragmentBytes { get; init; }

    /// <summary>Hosts log warnings to the console.</summary>
    public bool LogWarnings { get; init; }

    /// <summary>Keep the run's containers and table instead of deleting them at the end.</summary>
    public bool KeepData { get; init; }
}

/// <summary>What one run measured. <see cref="Passed"/>: every session completed, no corrupt file, nothing left in staging.</summary>
public sealed record LoadReport
{
    public required LoadTopology Topology { get; init; }

    public required int Sessions { get; init; }

    public required int Completed { get; init; }

    public required int Corrupt { get; init; }

    public required long ServerErrors { get; init; }

    public required long Requests { get; init; }

    public required long Bytes { get; init; }

    public required TimeSpan Elapsed { get; init; }

    public required int StagedLeftovers { get; init; }

    public required int SessionRowLeftovers { get; init; }

    public required int Fragments { get; init; }

    public required int InjectedRetransmits { get; init; }

    public required int InjectedOverlaps { get; init; }

    public required int ClientResyncs { get; init; }

    public required IReadOnlyList<string> Failures { get; init; }

    public double MiBPerSecond => Elapsed.TotalSeconds > 0 ? Bytes / 1048576.0 / Elapsed.TotalSeconds : 0;

    public bool Passed => Completed == Sessions && Corrupt == 0 && StagedLeftovers == 0 && SessionRowLeftovers == 0;

    public void WriteTo(TextWriter writer)
    {
        var c = CultureInfo.InvariantCulture;
        writer.WriteLine(string.Create(c, $"topology:           {(Topology == LoadTopology.OneHost ? "1 host" : "2 hosts, packets alternating")}"));
        writer.WriteLine(string.Create(c, $"sessions completed: {Completed}/{Sessions}"));
        writer.WriteLine(string.Create(c, $"corrupt files:      {Corrupt}"));
        writer.WriteLine(string.Create(c, $"5xx responses:      {ServerErrors} (of {Requests} requests)"));
        writer.WriteLine(string.Create(c, $"throughput:         {MiBPerSecond:F1} MiB/s ({Bytes / 1048576.0:F1} MiB in {Elapsed.TotalSeconds:F1} s)"));
        writer.WriteLine(string.Create(c, $"leftovers:          {StagedLeftovers + SessionRowLeftovers} ({StagedLeftovers} staged blobs, {SessionRowLeftovers} session rows)"));
        writer.WriteLine(string.Create(c, $"fragments:          {Fragments} ({InjectedRetransmits} injected retransmits, {InjectedOverlaps} injected overlaps, {ClientResyncs} Acks off the sent range)"));
        foreach (var failure in Failures.Take(10))
        {
            writer.WriteLine(string.Create(c, $"  failure: {failure}"));
        }

        writer.WriteLine(string.Create(c, $"result:             {(Passed ? "PASS" : "FAIL")}"));
    }
}

/// <summary>
/// The load test: starts the host(s) in this process on one storage account, runs the sessions concurrently with the
/// .NET BITS client (random sizes, random fragment sizes, injected retransmits and overlaps), then checks every
/// published blob against the SHA-256 of its source and counts what is left in staging.
/// </summary>
public static class LoadRunner
{
    public static async Task<LoadReport> RunAsync(string connectionString, LoadTopology topology, LoadOptions options, TextWriter? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Sessions, 1);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        var ct = timeout.Token;

        var storage = StorageNames.Unique(connectionString, "load");
        var hosts = new List<InProcessHost>();
        try
        {
            for (var i = 0; i < (int)topology; i++)
            {
                hosts.Add(await InProcessHost.StartAsync(storage, HostSettings(options), logWarnings: options.LogWarnings, cancellationToken: ct));
            }

            using var pool = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10), PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
            using var counting = new CountingHandler(pool);
            var random = new Random(options.Seed);
            var sessions = Enumerable.Range(0, options.Sessions)
                .Select(i => new SessionPlan(i, random.NextInt64(0, options.MaxSize + 1), (ulong)random.NextInt64(), random.Next()))
                .ToList();
            var acknowledged = new long[sessions.Count];
            using var throttle = new SemaphoreSlim(options.Concurrency > 0 ? options.Concurrency : sessions.Count);

            var stopwatch = Stopwatch.StartNew();
            using var tickerStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var ticker = ReportProgressAsync(progress, sessions, acknowledged, stopwatch, tickerStop.Token);
            var outcomes = await Task.WhenAll(sessions.Select(async session =>
            {
                await throttle.WaitAsync(ct);
                try
                {
                    return await UploadAsync(session, hosts, counting, options, acknowledged, ct);
                }
                finally
                {
                    throttle.Release();
                }
            }));
            var elapsed = stopwatch.Elapsed;
            await tickerStop.CancelAsync();
            await ticker;

            var failures = outcomes.Where(o => o.Failure is not null).Select(o => $"session {o.Plan.Index} ({o.Plan.Size} bytes): {o.Failure}").ToList();
            var corrupt = 0;
            using (var verify = new SemaphoreSlim(4))
            {
                var checks = await Task.WhenAll(outcomes.Where(o => o.Completed).Select(async o =>
                {
                    await verify.WaitAsync(ct);
                    try
                    {
                        return (o, Problem: await VerifyAsync(storage, o.Plan, ct));
                    }
                    finally
                    {
                        verify.Release();
                    }
                }));
                foreach (var (o, problem) in checks.Where(c => c.Problem is not null))
                {
                    corrupt++;
                    failures.Add($"session {o.Plan.Index} ({o.Plan.Size} bytes): {problem}");
                }
            }

            return new LoadReport
            {
                Topology = topology,
                Sessions = sessions.Count,
                Completed = outcomes.Count(o => o.Completed),
                Corrupt = corrupt,
                ServerErrors = counting.ServerErrors,
                Requests = counting.Requests,
                Bytes = outcomes.Where(o => o.Completed).Sum(o => o.Plan.Size),
                Elapsed = elapsed,
                StagedLeftovers = await storage.StagedBlobCountAsync(ct),
                SessionRowLeftovers = await storage.SessionRowCountAsync(ct),
                Fragments = outcomes.Sum(o => o.Fragments),
                InjectedRetransmits = outcomes.Sum(o => o.InjectedRetransmits),
                InjectedOverlaps = outcomes.Sum(o => o.InjectedOverlaps),
                ClientResyncs = outcomes.Sum(o => o.ClientResyncs),
                Failures = failures,
            };
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }

            if (!options.KeepData)
            {
                try
                {
                    await storage.DeleteAsync(CancellationToken.None);
                }
                catch (RequestFailedException)
                {
                    // Clean-up is best effort (Azurite's data folder is temporary anyway).
                }
            }
        }
    }

    /// <summary>Host settings the options override (sizing runs: docs/performance.md, "One worker at Flex concurrency").</summary>
    public static Dictionary<string, string?> HostSettings(LoadOptions options)
    {
        var settings = new Dictionary<string, string?>();
        if (options.FragmentMemoryBytes > 0)
        {
            settings["Bits:FragmentMemoryBytes"] = options.FragmentMemoryBytes.ToString(CultureInfo.InvariantCulture);
        }

        if (options.MaxFragmentBytes > 0)
        {
            settings["Bits:MaxFragmentBytes"] = options.MaxFragmentBytes.ToString(CultureInfo.InvariantCulture);
        }

        return settings;
    }

    /// <summary>The blob name a session uploads to.</summary>
    public static string BlobName(int index, long size) => string.Create(CultureInfo.InvariantCulture, $"load/{index:D4}-{size}.bin");

    private static async Task<SessionOutcome> UploadAsync(SessionPlan plan, List<InProcessHost> hosts, CountingHandler counting, LoadOptions options, long[] acknowledged, CancellationToken ct)
    {
        var planner = new FaultPlanner(plan.PlannerSeed, options.MinFragment, options.MaxFragment, options.FaultRate);
        using var alternating = hosts.Count > 1 ? new AlternatingHandler(counting, hosts.Select(h => h.Root).ToList()) : null;
        using var http = new HttpClient((HttpMessageHandler?)alternating ?? counting, disposeHandler: false) { Timeout = TimeSpan.FromMinutes(5) };
        var client = new BitsUploadClient(http, new BitsClientOptions
        {
            RetryDelay = TimeSpan.FromMilliseconds(100),
            MaxFragmentBytes = Math.Max(options.MaxFragment, options.MinFragment),
            MinFragmentBytes = options.MinFragment,
            MaxFragmentsWithoutProgress = 64,
            FragmentPlanner = planner.Plan,
        });
        var reporter = new Progress<long>(offset => Volatile.Write(ref acknowledged[plan.Index], offset));
        try
        {
            await using var source = new SeededStream(plan.DataSeed, plan.Size);
            var result = await client.UploadAsync(hosts[0].Url(BlobName(plan.Index, plan.Size)), source, $"source-{plan.Index}.bin", reporter, ct);
            Volatile.Write(ref acknowledged[plan.Index], plan.Size);
            return new SessionOutcome(plan, true, null, planner.Fragments, planner.Retransmits, planner.Overlaps, result.Retransmits);
        }
        catch (Exception ex) when (ex is BitsUploadException or HttpRequestException or IOException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return new SessionOutcome(plan, false, $"{ex.GetType().Name}: {ex.Message}", planner.Fragments, planner.Retransmits, planner.Overlaps, 0);
        }
    }

    /// <summary>Null when the published blob has the source's length and SHA-256; else what is wrong.</summary>
    private static async Task<string?> VerifyAsync(StorageNames storage, SessionPlan plan, CancellationToken ct)
    {
        var expected = SeededStream.Sha256(plan.DataSeed, plan.Size);
        try
        {
            var download = await storage.Uploads.GetBlobClient(BlobName(plan.Index, plan.Size)).DownloadStreamingAsync(cancellationToken: ct);
            await using var content = download.Value.Content;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[1024 * 1024];
            long length = 0;
            for (int read; (read = await content.ReadAsync(buffer, ct)) > 0;)
            {
                hash.AppendData(buffer, 0, read);
                length += read;
            }

            if (length != plan.Size)
            {
                return string.Create(CultureInfo.InvariantCulture, $"published {length} bytes, expected {plan.Size}");
            }

            return hash.GetHashAndReset().AsSpan().SequenceEqual(expected) ? null : "SHA-256 of the published blob differs from the source";
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return "the upload completed but no blob was published";
        }
    }

    private static async Task ReportProgressAsync(TextWriter? progress, List<SessionPlan> sessions, long[] acknowledged, Stopwatch stopwatch, CancellationToken ct)
    {
        if (progress is null)
        {
            return;
        }

        var total = sessions.Sum(s => s.Size);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(10));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var done = 0L;
                for (var i = 0; i < acknowledged.Length; i++)
                {
                    done += Volatile.Read(ref acknowledged[i]);
                }

                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {stopwatch.Elapsed.TotalSeconds,6:F0} s: {done / 1048576.0:F0} of {total / 1048576.0:F0} MiB acknowledged"));
            }
        }
        catch (OperationCanceledException)
        {
            // The uploads are over.
        }
    }

    private sealed record SessionPlan(int Index, long Size, ulong DataSeed, int PlannerSeed);

    private sealed record SessionOutcome(SessionPlan Plan, bool Completed, string? Failure, int Fragments, int InjectedRetransmits, int InjectedOverlaps, int ClientResyncs);
}

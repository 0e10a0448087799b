using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.Protocol;

/// <summary>Settings of the session-expiry janitor, bound from <c>Bits:Janitor</c>.</summary>
public sealed class BitsJanitorOptions
{
    public const string SectionName = "Bits:Janitor";

    /// <summary>Whether janitor runs do anything (in the Kestrel host's hosted service and in the Functions timer).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between two runs of the Kestrel host's hosted service (the Functions app runs on its own timer schedule).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Due entries handled per store call (one storage query page).</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>Upper bound of the entries one run handles, so a run always ends; the rest waits for the next run.</summary>
    public int MaxItemsPerRun { get; set; } = 10_000;
}

/// <summary>Checks <see cref="BitsJanitorOptions"/> at start-up.</summary>
public sealed class BitsJanitorOptionsValidator : IValidateOptions<BitsJanitorOptions>
{
    public ValidateOptionsResult Validate(string? name, BitsJanitorOptions options)
    {
        var failures = new List<string>();
        if (options.Interval < TimeSpan.FromSeconds(1))
        {
            failures.Add($"Bits:Janitor:Interval must be at least 1 second; it is {options.Interval}.");
        }

        if (options.BatchSize is < 1 or > 1000)
        {
            failures.Add($"Bits:Janitor:BatchSize must be between 1 and 1000 (one storage query page); it is {options.BatchSize}.");
        }

        if (options.MaxItemsPerRun < options.BatchSize)
        {
            failures.Add($"Bits:Janitor:MaxItemsPerRun must be at least Bits:Janitor:BatchSize; it is {options.MaxItemsPerRun}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// Removes sessions idle for longer than their area's <see cref="BitsArea.SessionTimeout"/> (with their staged data
/// and reply) and tombstones past <see cref="BitsServerOptions.TombstoneLifetime"/>. Host-agnostic: the Kestrel host
/// calls <see cref="RunOnceAsync"/> from a hosted service, the Functions app from a timer trigger. The work is done
/// by the store's <see cref="IBitsExpiryStore"/>, in batches, so a run costs in proportion to what is due.
/// </summary>
public sealed partial class BitsSessionJanitor
{
    private readonly IBitsUploadStore _store;
    private readonly BitsAreaCatalog _catalog;
    private readonly BitsServerOptions _serverOptions;
    private readonly BitsJanitorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<BitsSessionJanitor> _logger;
    private readonly BitsCompletionEvents _events;
    private readonly BitsMetrics _metrics;
    private int _unsupportedLogged;

    /// <param name="store">The upload store; it must also implement <see cref="IBitsExpiryStore"/>, else runs do nothing.</param>
    /// <param name="serverOptions">The protocol options; the area catalog is built from them as the handler does.</param>
    /// <param name="options">The janitor's own settings.</param>
    /// <param name="time">The clock (a fake one in tests).</param>
    /// <param name="logger">Logger.</param>
    /// <param name="completions">Where completion events go: the janitor sends those a crash or a queue failure left pending.</param>
    /// <param name="metrics">The server's instruments (from the host's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>); unshared ones when null.</param>
    public BitsSessionJanitor(
        IBitsUploadStore store,
        IOptions<BitsServerOptions> serverOptions,
        IOptions<BitsJanitorOptions> options,
        TimeProvider time,
        ILogger<BitsSessionJanitor> logger,
        IBitsCompletionSink? completions = null,
        BitsMetrics? metrics = null)
    {
        _store = store;
        _metrics = metrics ?? BitsMetrics.Unshared();
        _serverOptions = serverOptions.Value;
        _catalog = new BitsAreaCatalog(_serverOptions);
        _options = options.Value;
        _time = time;
        _logger = logger;
        _events = new BitsCompletionEvents(store, completions, time, logger);
    }

    /// <summary>The settings this janitor runs with.</summary>
    public BitsJanitorOptions Options => _options;

    /// <summary>
    /// The idle timeout of a session: its area's, or <see cref="BitsServerOptions.SessionTimeout"/> for an area no longer
    /// configured; at most <see cref="BitsServerOptions.UnusedSessionTimeout"/> while it has received no Fragment (its
    /// size is unknown until the first one).
    /// </summary>
    public TimeSpan IdleTimeout(BitsSession session)
    {
        var timeout = _catalog.Find(session.Area ?? BitsAreaCatalog.DefaultAreaName)?.SessionTimeout ?? _serverOptions.SessionTimeout;
        return session.TotalLength is null && _serverOptions.UnusedSessionTimeout < timeout ? _serverOptions.UnusedSessionTimeout : timeout;
    }

    /// <summary>
    /// Sweeps everything due as of now, batch after batch, until a batch comes back short (nothing more is due) or
    /// <see cref="BitsJanitorOptions.MaxItemsPerRun"/> entries were handled. Storage faults propagate (the caller logs
    /// them and tries again at the next run); every step of a sweep is safe to repeat.
    /// </summary>
    public async Task<BitsSweepResult> RunOnceAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            Log.Disabled(_logger);
            return default;
        }

        if (_store is not IBitsExpiryStore expiry)
        {
            if (Interlocked.Exchange(ref _unsupportedLogged, 1) == 0)
            {
                Log.Unsupported(_logger, _store.GetType().FullName ?? _store.GetType().Name);
            }

            _metrics.JanitorRuns.Add(1, new KeyValuePair<string, object?>("bits.janitor.outcome", "unsupported"));
            return default;
        }

        var started = _time.GetTimestamp();
        var now = _time.GetUtcNow();
        var total = default(BitsSweepResult);
        var handled = 0;
        try
        {
            while (handled < _options.MaxItemsPerRun)
            {
                var batchSize = Math.Min(_options.BatchSize, _options.MaxItemsPerRun - handled);
                var batch = await expiry.SweepAsync(IdleTimeout, now, batchSize, cancellationToken);
                Record(batch);
                total = new BitsSweepResult(
                    total.ExpiredSessions + batch.ExpiredSessions,
                    total.ExpiredTombstones + batch.ExpiredTombstones,
                    total.Rescheduled + batch.Rescheduled);
                var count = batch.ExpiredSessions + batch.ExpiredTombstones + batch.Rescheduled;
                handled += count;
                if (count < batchSize)
                {
                    break;
                }
            }

            handled += await DeliverPendingEventsAsync(now, _options.MaxItemsPerRun - handled, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.JanitorRuns.Add(1, new KeyValuePair<string, object?>("bits.janitor.outcome", "failed"));
            Log.RunFailed(_logger, total.ExpiredSessions, total.ExpiredTombstones, total.Rescheduled, ex);
            throw;
        }

        var elapsed = _time.GetElapsedTime(started);
        _metrics.JanitorRuns.Add(1, new KeyValuePair<string, object?>("bits.janitor.outcome", "ok"));
        _metrics.JanitorDuration.Record(elapsed.TotalSeconds);
        if (handled > 0)
        {
            Log.RunCompleted(_logger, total.ExpiredSessions, total.ExpiredTombstones, total.Rescheduled, elapsed.TotalMilliseconds);
        }
        else
        {
            Log.NothingDue(_logger);
        }

        return total;
    }

    /// <summary>
    /// Completion events a crash or a queue failure left pending (marked sessions and tombstones due for a look), batch
    /// after batch within the run's budget; every one handled leaves the due list (sent, dropped or postponed).
    /// </summary>
    private async Task<int> DeliverPendingEventsAsync(DateTimeOffset now, int budget, CancellationToken cancellationToken)
    {
        int handled = 0, sent = 0;
        while (handled < budget)
        {
            var batchSize = Math.Min(_options.BatchSize, budget - handled);
            var batch = await _events.DeliverDueAsync(_catalog, now, batchSize, cancellationToken);
            handled += batch.Handled;
            sent += batch.Sent;
            if (batch.Handled < batchSize)
            {
                break;
            }
        }

        if (handled > 0)
        {
            _metrics.JanitorEventsSent.Add(sent);
            Log.PendingEvents(_logger, sent, handled - sent);
        }

        return handled;
    }

    private void Record(BitsSweepResult batch)
    {
        if (batch.ExpiredSessions > 0)
        {
            _metrics.JanitorExpired.Add(batch.ExpiredSessions, new KeyValuePair<string, object?>("bits.janitor.kind", "session"));
        }

        if (batch.ExpiredTombstones > 0)
        {
            _metrics.JanitorExpired.Add(batch.ExpiredTombstones, new KeyValuePair<string, object?>("bits.janitor.kind", "tombstone"));
        }

        if (batch.Rescheduled > 0)
        {
            _metrics.JanitorRescheduled.Add(batch.Rescheduled);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Janitor.JanitorRunCompleted, LogLevel.Information, "Janitor run: {ExpiredSessions} idle sessions and {ExpiredTombstones} tombstones removed, {Rescheduled} active sessions rescheduled in {ElapsedMs} ms", EventName = "JanitorRunCompleted")]
        public static partial void RunCompleted(ILogger logger, int expiredSessions, int expiredTombstones, int rescheduled, double elapsedMs);

        [LoggerMessage(BitsEventIds.Janitor.JanitorNothingDue, LogLevel.Debug, "Janitor run: nothing due", EventName = "JanitorNothingDue")]
        public static partial void NothingDue(ILogger logger);

        [LoggerMessage(BitsEventIds.Janitor.JanitorUnsupported, LogLevel.Warning, "The upload store {StoreType} does not implement IBitsExpiryStore: sessions never expire", EventName = "JanitorUnsupported")]
        public static partial void Unsupported(ILogger logger, string storeType);

        [LoggerMessage(BitsEventIds.Janitor.JanitorRunFailed, LogLevel.Warning, "Janitor run failed after removing {ExpiredSessions} sessions and {ExpiredTombstones} tombstones and rescheduling {Rescheduled}; the next run continues", EventName = "JanitorRunFailed")]
        public static partial void RunFailed(ILogger logger, int expiredSessions, int expiredTombstones, int rescheduled, Exception exception);

        [LoggerMessage(BitsEventIds.Janitor.JanitorPendingEvents, LogLevel.Information, "Janitor run: {Sent} pending completion events sent, {NotSent} dropped or postponed", EventName = "JanitorPendingEvents")]
        public static partial void PendingEvents(ILogger logger, int sent, int notSent);

        [LoggerMessage(BitsEventIds.Janitor.JanitorDisabled, LogLevel.Debug, "Janitor is disabled (Bits:Janitor:Enabled = false)", EventName = "JanitorDisabled")]
        public static partial void Disabled(ILogger logger);
    }
}

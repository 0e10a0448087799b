using Bits.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

/// <summary>One completed janitor run of <see cref="BitsJanitorHostedService"/>: its totals, or the failure it logged.</summary>
public sealed record BitsJanitorRun(DateTimeOffset StartedAt, BitsSweepResult Result, Exception? Error);

/// <summary>
/// Where the janitor runs, chosen by the host in code, not by configuration: the Functions app turns
/// <see cref="HostedService"/> off because its timer-triggered function runs the janitor instead.
/// </summary>
public sealed class BitsJanitorSchedule
{
    /// <summary>Whether <see cref="BitsJanitorHostedService"/> runs the janitor in this process.</summary>
    public bool HostedService { get; set; } = true;
}

/// <summary>
/// Runs <see cref="BitsSessionJanitor.RunOnceAsync"/> every <see cref="BitsJanitorOptions.Interval"/> (first run one
/// interval after start-up), waiting on a <see cref="PeriodicTimer"/> of the injected <see cref="TimeProvider"/> so a
/// fake clock drives it in tests. A failing run is logged and the next one tries again: storage trouble never stops the
/// host. Idle when <see cref="BitsJanitorOptions.Enabled"/> or <see cref="BitsJanitorSchedule.HostedService"/> is false.
/// </summary>
public sealed partial class BitsJanitorHostedService : IHostedService, IDisposable
{
    private readonly BitsSessionJanitor _janitor;
    private readonly BitsJanitorOptions _options;
    private readonly bool _hosted;
    private readonly TimeProvider _time;
    private readonly ILogger<BitsJanitorHostedService> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource<BitsJanitorRun> _nextRun = NewRunSource();
    private PeriodicTimer? _timer;
    private Task? _loop;

    public BitsJanitorHostedService(
        BitsSessionJanitor janitor, IOptions<BitsJanitorOptions> options, IOptions<BitsJanitorSchedule> schedule, TimeProvider time, ILogger<BitsJanitorHostedService> logger)
    {
        _janitor = janitor;
        _options = options.Value;
        _hosted = schedule.Value.HostedService;
        _time = time;
        _logger = logger;
    }

    /// <summary>Whether this instance runs the janitor (false when disabled by settings, or in the Functions app).</summary>
    public bool IsActive => _options.Enabled && _hosted;

    /// <summary>
    /// Completes when the next run (one not yet started when this property is read) has finished, successfully or not.
    /// Lets tests wait for a run deterministically: read it, advance the clock by the interval, await it.
    /// </summary>
    public Task<BitsJanitorRun> NextRunCompleted => Volatile.Read(ref _nextRun).Task;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!IsActive)
        {
            Log.Inactive(_logger, _options.Enabled, _hosted);
            return Task.CompletedTask;
        }

        // The timer exists before StartAsync returns, so a clock advanced after start-up always reaches it.
        _timer = new PeriodicTimer(_options.Interval, _time);
        Log.Started(_logger, _options.Interval);
        _loop = LoopAsync(_timer, _stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        _timer?.Dispose();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _stopping.Dispose();
    }

    private async Task LoopAsync(PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                await RunAsync(stopping);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Host shutting down.
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var completion = Interlocked.Exchange(ref _nextRun, NewRunSource());
        var started = _time.GetUtcNow();
        BitsJanitorRun run;
        try
        {
            run = new BitsJanitorRun(started, await _janitor.RunOnceAsync(stopping), null);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            completion.TrySetCanceled(stopping);
            throw;
        }
        catch (Exception ex)
        {
            // The janitor logged the failure (BitsSessionJanitor JanitorRunFailed); the next tick tries again.
            run = new BitsJanitorRun(started, default, ex);
        }

        completion.TrySetResult(run);
    }

    private static TaskCompletionSource<BitsJanitorRun> NewRunSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Janitor.JanitorStarted, LogLevel.Information, "Session janitor runs every {Interval}", EventName = "JanitorStarted")]
        public static partial void Started(ILogger logger, TimeSpan interval);

        [LoggerMessage(BitsEventIds.Janitor.JanitorInactive, LogLevel.Debug, "Session janitor hosted service is idle (Enabled = {Enabled}, HostedService = {HostedService})", EventName = "JanitorInactive")]
        public static partial void Inactive(ILogger logger, bool enabled, bool hostedService);
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Bits.Protocol;

/// <summary>The server's <see cref="ActivitySource"/> and the name of its meter (<see cref="BitsMetrics"/>), both <c>Bits.Server</c>.</summary>
public static class BitsObservability
{
    public const string Name = "Bits.Server";

    public static readonly ActivitySource ActivitySource = new(Name);
}

/// <summary>
/// The server's instruments, on the <c>Bits.Server</c> meter of an <see cref="IMeterFactory"/> (one per service
/// provider, so tests observe their own host with <c>MetricCollector</c> instead of sharing static instruments).
/// Durations are histograms in seconds, as the OpenTelemetry conventions and ASP.NET Core's own meters have them.
/// </summary>
public sealed class BitsMetrics
{
    public BitsMetrics(IMeterFactory meterFactory)
        : this(meterFactory.Create(BitsObservability.Name))
    {
    }

    private BitsMetrics(Meter meter)
    {
        Meter = meter;
        Packets = meter.CreateCounter<long>("bits.packets", "{packet}", "BITS packets handled");
        BytesReceived = meter.CreateCounter<long>("bits.bytes_received", "By", "Fragment bytes stored");
        Errors = meter.CreateCounter<long>("bits.errors", "{error}", "Error Acks by BITS-Error-Code");
        PacketDuration = meter.CreateHistogram<double>("bits.packet.duration", "s", "Time to handle one packet");
        PublishDuration = meter.CreateHistogram<double>("bits.publish.duration", "s", "Time to publish a file at Close-Session");
        JanitorExpired = meter.CreateCounter<long>("bits.janitor.expired", "{item}", "Sessions and tombstones removed by the expiry janitor");
        JanitorRescheduled = meter.CreateCounter<long>("bits.janitor.rescheduled", "{item}", "Due sessions found active and rescheduled");
        JanitorEventsSent = meter.CreateCounter<long>("bits.janitor.events_sent", "{event}", "Pending completion events sent by the janitor");
        JanitorRuns = meter.CreateCounter<long>("bits.janitor.runs", "{run}", "Expiry janitor runs");
        JanitorDuration = meter.CreateHistogram<double>("bits.janitor.duration", "s", "Time of one janitor run");
        AuthRefusals = meter.CreateCounter<long>("bits.auth.refusals", "{request}", "Requests refused by authentication (401) or authorization (403)");
    }

    /// <summary>The <c>Bits.Server</c> meter the instruments are on.</summary>
    public Meter Meter { get; }

    /// <summary>Packets handled, tagged with packet type and HTTP status.</summary>
    public Counter<long> Packets { get; }

    public Counter<long> BytesReceived { get; }

    /// <summary>Error Acks, tagged with packet type, BITS-Error-Code, HTTP status, cause (<c>error.type</c>: the
    /// <see cref="BitsErrorKind"/>, e.g. <c>ServerBusy</c> or <c>StorageUnavailable</c> for two causes of a 503) and
    /// reason (<c>bits.error_reason</c>: the <see cref="BitsErrors"/> code).</summary>
    public Counter<long> Errors { get; }

    /// <summary>Seconds to handle one packet, tagged with packet type.</summary>
    public Histogram<double> PacketDuration { get; }

    /// <summary>Seconds to publish a file at Close-Session.</summary>
    public Histogram<double> PublishDuration { get; }

    /// <summary>Sessions and tombstones removed, tagged <c>bits.janitor.kind</c> = <c>session</c> or <c>tombstone</c>.</summary>
    public Counter<long> JanitorExpired { get; }

    /// <summary>Due entries whose session had been active since, moved to their new due time.</summary>
    public Counter<long> JanitorRescheduled { get; }

    /// <summary>Completion events the janitor sent because a crash or a queue failure had left them pending.</summary>
    public Counter<long> JanitorEventsSent { get; }

    /// <summary>Janitor runs, tagged <c>bits.janitor.outcome</c> = <c>ok</c>, <c>failed</c> or <c>unsupported</c>.</summary>
    public Counter<long> JanitorRuns { get; }

    /// <summary>Seconds of one janitor run.</summary>
    public Histogram<double> JanitorDuration { get; }

    /// <summary>Requests refused by authentication or authorization, tagged with status, area and scheme.</summary>
    public Counter<long> AuthRefusals { get; }

    /// <summary>
    /// Instruments on a meter of their own, for a handler or janitor built without dependency injection (tests, tools);
    /// nothing shares them.
    /// </summary>
    internal static BitsMetrics Unshared() => new(new Meter(BitsObservability.Name));

    internal void RecordPacket(BitsPacketType type, BitsResponse response, TimeSpan elapsed)
    {
        var typeTag = new KeyValuePair<string, object?>("bits.packet_type", type.ToWireName());
        var statusTag = new KeyValuePair<string, object?>("http.response.status_code", response.StatusCode);
        Packets.Add(1, typeTag, statusTag);
        PacketDuration.Record(elapsed.TotalSeconds, typeTag);
        if (response.Error is { } error)
        {
            Errors.Add(
                1,
                typeTag,
                statusTag,
                new KeyValuePair<string, object?>("bits.error_code", BitsHResults.Format(error.HResult)),
                new KeyValuePair<string, object?>("error.type", error.Kind.ToString()),
                new KeyValuePair<string, object?>("bits.error_reason", error.Code));
        }
    }
}

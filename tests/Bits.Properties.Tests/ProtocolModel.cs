using System.Globalization;
using Bits.Protocol;

namespace Bits.Properties.Tests;

/// <summary>How a session packet names its session.</summary>
public enum Target
{
    /// <summary>The session's own URL and user (or any user, for an anonymous session).</summary>
    Own,

    /// <summary>The session's id on another upload URL.</summary>
    OtherUrl,

    /// <summary>The session's id from another user.</summary>
    OtherUser,

    /// <summary>A well-formed id no server ever issued.</summary>
    Unknown,

    /// <summary>An id that is not a GUID.</summary>
    Malformed,

    /// <summary>No BITS-Session-Id header.</summary>
    Missing,
}

/// <summary>Which range a Fragment carries, relative to what the session has stored (R) and its file size (T).</summary>
public enum RangeKind
{
    InOrder,
    Duplicate,
    Overlap,
    Gap,
    WrongTotal,
    LastBeyondTotal,
    Garbage,
}

/// <summary>What is wrong with a Fragment's framing, if anything.</summary>
public enum BodyFault
{
    None,
    DeclaredLonger,
    DeclaredShorter,
    BodyEndsEarly,
    Encoding,
}

/// <summary>An abstract packet: concrete ranges are worked out from the model's state when it is sent.</summary>
public abstract record Packet;

public sealed record PingPacket : Packet
{
    public override string ToString() => "Ping";
}

public sealed record CreatePacket(int Url, int User, int PlannedTotal, bool NoCommonProtocol) : Packet
{
    public override string ToString() => $"Create(url {Url}, user {User}, total {PlannedTotal}{(NoCommonProtocol ? ", bad protocols" : "")})";
}

public sealed record FragmentPacket(int Pick, Target Target, int User, RangeKind Kind, int Length, int Seed, BodyFault Fault) : Packet
{
    public override string ToString() => $"Fragment(session {Pick}, {Target}, user {User}, {Kind}, length {Length}, seed {Seed}, {Fault})";
}

public sealed record ClosePacket(int Pick, Target Target, int User) : Packet
{
    public override string ToString() => $"Close(session {Pick}, {Target}, user {User})";
}

public sealed record CancelPacket(int Pick, Target Target, int User) : Packet
{
    public override string ToString() => $"Cancel(session {Pick}, {Target}, user {User})";
}

/// <summary>A sequence of packets, shrunk by FsCheck by dropping packets (every subsequence is a valid script).</summary>
public sealed record PacketScript(IReadOnlyList<Packet> Packets)
{
    public override string ToString() => Environment.NewLine + string.Join(Environment.NewLine, Packets.Select((p, i) => $"  {i,2}: {p}"));
}

/// <summary>What an Ack must say: the fields the model and the server are compared on.</summary>
public readonly record struct ExpectedAck(int Status, string? ErrorCode, string? Received)
{
    public override string ToString() => $"{Status} error={ErrorCode ?? "-"} received={Received ?? "-"}";
}

/// <summary>Which session id text a concrete packet carries.</summary>
public enum IdKind
{
    Known,
    Unknown,
    Malformed,
    Missing,
}

/// <summary>A packet made concrete: exactly what goes on the wire (bar the real session id, which the driver fills in).</summary>
public sealed record ConcretePacket(
    BitsPacketType Type,
    string Url,
    string? User,
    IdKind IdKind,
    int Session,
    string? Protocols,
    string? ContentRange,
    long ContentLength,
    byte[] Body,
    string? ContentEncoding);

/// <summary>
/// A tiny pure model of the BITS upload server, written from the protocol digest (§2, §3, §6a) and
/// docs/protocol-compliance.md, not from the handler: sessions with their URL, user, file size, stored bytes and
/// state; the published files; the per-user session limit and the overwrite rule.
/// </summary>
public sealed class ProtocolModel
{
    public const int MaxFragmentBytes = 48;
    public const int MaxUploadBytes = 160;
    public const int MaxSessionsPerUser = 2;

    public static readonly string[] Urls = ["/p/a.bin", "/p/b.bin", "/p/dir/c.bin"];
    public static readonly string?[] Users = [null, "alice", "bob"];

    private const string InvalidArg = "0x80070057";
    private const string SessionNotFound = "0x8020001F";
    private const string HttpError503 = "0x801901F7";
    private const string TooLarge = "0x80200020";
    private const string AccessDenied = "0x80070005";
    private const string FragmentTooLarge = "0x8019019D";
    private const string SessionLimit = "0x80190199";

    private readonly List<Session> _sessions = [];
    private readonly Dictionary<string, byte[]> _published = new(StringComparer.Ordinal);

    public enum State
    {
        Open,
        Closed,
        Cancelled,
        Discarded,

        /// <summary>Still recorded, but another session's commit to the same name deleted its staged blocks (issue 14).</summary>
        Superseded,
    }

    public IReadOnlyDictionary<string, byte[]> Published => _published;

    public int SessionCount => _sessions.Count;

    public int OpenSessionCount => _sessions.Count(s => s.State == State.Open);

    /// <summary>Open sessions that hold bytes: each of them must hold staged data on the server.</summary>
    public int StagingSessionCount => _sessions.Count(s => s.State == State.Open && s.Data.Count > 0);

    public static BitsServerOptions ServerOptions() => new()
    {
        MaxFragmentBytes = MaxFragmentBytes,
        MaxUploadBytes = MaxUploadBytes,
        MaxSessionsPerUser = MaxSessionsPerUser,
        AllowOverwrites = false,
    };

    /// <summary>The blob name a URL publishes to.</summary>
    public static string Destination(string url) => url.TrimStart('/');

    /// <summary>Turns an abstract packet into a concrete one, using the model's state for ranges and targets.</summary>
    public ConcretePacket Concretise(Packet packet)
    {
        switch (packet)
        {
            case PingPacket:
                return new ConcretePacket(BitsPacketType.Ping, Urls[0], null, IdKind.Missing, -1, null, null, 0, [], null);
            case CreatePacket create:
                return new ConcretePacket(BitsPacketType.CreateSession, Urls[create.Url], Users[create.User], IdKind.Missing, -1,
                    create.NoCommonProtocol ? "{00000000-0000-0000-0000-000000000001}" : "{7DF0354D-249B-430F-820D-3D2A9BEF4931}",
                    null, 0, [], null);
            case ClosePacket close:
                return Address(BitsPacketType.CloseSession, close.Pick, close.Target, close.User);
            case CancelPacket cancel:
                return Address(BitsPacketType.CancelSession, cancel.Pick, cancel.Target, cancel.User);
            case FragmentPacket fragment:
                return Fragment(fragment);
            default:
                throw new ArgumentOutOfRangeException(nameof(packet));
        }
    }

    /// <summary>Applies a concrete packet to the model and says what the Ack must be.</summary>
    public ExpectedAck Apply(ConcretePacket packet, Packet source) => packet.Type switch
    {
        BitsPacketType.Ping => new(200, null, null),
        BitsPacketType.CreateSession => Create(packet, (CreatePacket)source),
        BitsPacketType.Fragment => ApplyFragment(packet),
        BitsPacketType.CloseSession => Close(packet),
        BitsPacketType.CancelSession => Cancel(packet),
        _ => throw new ArgumentOutOfRangeException(nameof(packet)),
    };

    private ExpectedAck Create(ConcretePacket packet, CreatePacket source)
    {
        if (source.NoCommonProtocol)
        {
            return Error(400, InvalidArg);
        }

        if (packet.User is { } user && _sessions.Count(s => s.State is State.Open or State.Superseded && s.User == user) >= MaxSessionsPerUser)
        {
            return Error(409, SessionLimit);
        }

        if (_published.ContainsKey(Destination(packet.Url)))
        {
            return Error(403, AccessDenied);
        }

        _sessions.Add(new Session(packet.Url, packet.User, source.PlannedTotal));
        return new(200, null, null);
    }

    private ExpectedAck ApplyFragment(ConcretePacket packet)
    {
        if (Find(packet, out var session) is { } failure)
        {
            return failure;
        }

        if (session!.State != State.Open)
        {
            return Error(500, SessionNotFound);
        }

        if (packet.ContentEncoding is not null)
        {
            return Error(400, InvalidArg);
        }

        if (!ContentRangeSpec.TryParse(packet.ContentRange, out var range))
        {
            return Error(400, InvalidArg);
        }

        var length = range.Total == 0 ? 0 : range.Last - range.First + 1;
        if (packet.ContentLength != length)
        {
            return Error(400, InvalidArg);
        }

        if (length > MaxFragmentBytes)
        {
            return Error(413, FragmentTooLarge);
        }

        if (session.Total is null)
        {
            if (range.Total > MaxUploadBytes)
            {
                return Error(500, TooLarge);
            }

            session.Total = range.Total;
        }

        if (session.Total != range.Total)
        {
            return Error(400, InvalidArg);
        }

        if (range.Total == 0)
        {
            return Ok(0);
        }

        if (packet.Body.Length < length)
        {
            // Rules 6a.1 and 6a.10: a body that never fully arrived stores nothing and is transient (the client resends).
            return Error(503, HttpError503);
        }

        var received = session.Data.Count;
        if (range.First > received)
        {
            return new(416, null, Text(received));
        }

        if (range.Last >= received)
        {
            // In order or overlapping: only the bytes not yet stored are kept; stored bytes are never overwritten.
            session.Data.AddRange(packet.Body.Skip((int)(received - range.First)).Take((int)(range.Last + 1 - received)));
        }

        return Ok(session.Data.Count);
    }

    private ExpectedAck Close(ConcretePacket packet)
    {
        if (Find(packet, out var session) is { } failure)
        {
            return failure;
        }

        switch (session!.State)
        {
            case State.Closed:
                return new(200, null, null);
            case State.Cancelled:
                return Error(500, SessionNotFound);
            case State.Discarded:
                return Error(500, SessionNotFound);
            case State.Superseded:
                session.State = State.Discarded;
                return Error(500, SessionNotFound);
        }

        // Rule 6a.13: a session that received no Fragment publishes an empty file.
        session.Total ??= 0;
        if (session.Data.Count != session.Total)
        {
            session.State = State.Discarded;
            return Error(400, InvalidArg);
        }

        var destination = Destination(session.Url);
        if (_published.ContainsKey(destination))
        {
            session.State = State.Discarded;
            return Error(403, AccessDenied);
        }

        _published[destination] = [.. session.Data];
        session.State = State.Closed;

        // The commit deleted the staged blocks of every other session on that name, and told them.
        foreach (var other in _sessions.Where(s => s.State == State.Open && Destination(s.Url) == destination))
        {
            other.State = State.Superseded;
        }

        return new(200, null, null);
    }

    private ExpectedAck Cancel(ConcretePacket packet)
    {
        if (Find(packet, out var session) is { } failure)
        {
            return failure;
        }

        if (session!.State is State.Open or State.Superseded)
        {
            session.State = State.Cancelled;
        }

        return new(200, null, null);
    }

    /// <summary>Session lookup: bound to its URL and, when it was created by a user, to that user (rule 6a.7).</summary>
    private ExpectedAck? Find(ConcretePacket packet, out Session? session)
    {
        session = null;
        switch (packet.IdKind)
        {
            case IdKind.Missing:
                return Error(400, InvalidArg);
            case IdKind.Unknown or IdKind.Malformed:
                return Error(500, SessionNotFound);
        }

        var candidate = _sessions[packet.Session];
        if (candidate.Url != packet.Url || (candidate.User is not null && candidate.User != packet.User))
        {
            return Error(500, SessionNotFound);
        }

        session = candidate;
        return null;
    }

    private ConcretePacket Address(BitsPacketType type, int pick, Target target, int user)
    {
        var (index, url, who, kind) = Resolve(pick, target, user);
        return new ConcretePacket(type, url, who, kind, index, null, null, 0, [], null);
    }

    private (int Index, string Url, string? User, IdKind Kind) Resolve(int pick, Target target, int user)
    {
        if (_sessions.Count == 0 && target is Target.Own or Target.OtherUrl or Target.OtherUser)
        {
            target = Target.Unknown;
        }

        if (target is Target.Unknown or Target.Malformed or Target.Missing)
        {
            var kind = target switch { Target.Unknown => IdKind.Unknown, Target.Malformed => IdKind.Malformed, _ => IdKind.Missing };
            return (-1, Urls[user % Urls.Length], Users[user], kind);
        }

        // -1: the newest session still open (else the newest), the one a client would be working on.
        var index = pick >= 0 ? pick % _sessions.Count
            : _sessions.FindLastIndex(s => s.State == State.Open) is var open and >= 0 ? open : _sessions.Count - 1;
        var session = _sessions[index];
        var own = session.User ?? Users[user];
        return target switch
        {
            Target.OtherUrl => (index, Urls[(Array.IndexOf(Urls, session.Url) + 1 + (user % 2)) % Urls.Length], own, IdKind.Known),
            Target.OtherUser => (index, session.Url, Users[(Array.IndexOf(Users, session.User) + 1 + (user % 2)) % Users.Length], IdKind.Known),
            _ => (index, session.Url, own, IdKind.Known),
        };
    }

    private ConcretePacket Fragment(FragmentPacket fragment)
    {
        var (index, url, user, kind) = Resolve(fragment.Pick, fragment.Target, fragment.User);
        var session = index >= 0 ? _sessions[index] : null;
        long received = session?.Data.Count ?? 0;
        long total = session?.Total ?? session?.PlannedTotal ?? 10;
        var length = Math.Max(1, fragment.Length);
        var seed = fragment.Seed;

        string rangeText;
        long first = 0, last = -1;
        if (fragment.Kind == RangeKind.Garbage)
        {
            string[] garbage = ["", "bytes", "bytes 5-3/10", "bytes=0-0/1", "bytes 0-0/*", "bytes -1-0/1", "bytes 0-+1/2", "items 0-0/1", "bytes 0-0/1/1", "bytes 1-1/1"];
            rangeText = garbage[seed % garbage.Length];
            if (ContentRangeSpec.TryParse(rangeText, out var parsed))
            {
                (first, last, _) = parsed;
            }
        }
        else if (total == 0 && fragment.Kind is not (RangeKind.WrongTotal or RangeKind.LastBeyondTotal))
        {
            rangeText = "bytes */0";
        }
        else
        {
            (first, last, var sent) = PlanRange(fragment.Kind, received, total, length, seed);
            rangeText = string.Create(CultureInfo.InvariantCulture, $"bytes {first}-{last}/{sent}");
        }

        var rangeLength = last - first + 1;
        var declared = fragment.Fault switch
        {
            BodyFault.DeclaredLonger => rangeLength + 1,
            BodyFault.DeclaredShorter when rangeLength > 0 => rangeLength - 1,
            _ => rangeLength,
        };
        var bodyLength = fragment.Fault == BodyFault.BodyEndsEarly ? declared / 2 : declared;
        var body = new byte[bodyLength];
        for (var i = 0; i < body.Length; i++)
        {
            body[i] = Content(seed, first + i);
        }

        return new ConcretePacket(BitsPacketType.Fragment, url, user, kind, index, null, rangeText, declared, body,
            fragment.Fault == BodyFault.Encoding ? "gzip" : null);
    }

    private static (long First, long Last, long Total) PlanRange(RangeKind kind, long received, long total, int length, int seed)
    {
        switch (kind)
        {
            case RangeKind.Duplicate when received > 0:
            {
                var first = seed % received;
                return (first, Math.Min(first + length, received) - 1, total);
            }

            case RangeKind.Overlap when received > 0 && received < total:
            {
                var first = seed % received;
                var last = Math.Min(Math.Max(received, first + length - 1), total - 1);
                return (first, last, total);
            }

            case RangeKind.Gap when received + 1 < total:
            {
                var first = received + 1 + (seed % (total - received - 1));
                return (first, Math.Min(first + length, total) - 1, total);
            }

            case RangeKind.WrongTotal:
            {
                var wrong = total + 1 + (seed % 5);
                var first = Math.Min(received, wrong - 1);
                return (first, Math.Min(first + length, wrong) - 1, wrong);
            }

            case RangeKind.LastBeyondTotal:
                return (received, total + (seed % 3), total);

            default:
            {
                // In order; once everything is stored, a retransmission of the tail.
                var first = received < total ? received : Math.Max(0, total - length);
                return (first, Math.Min(first + length, total) - 1, total);
            }
        }
    }

    /// <summary>The byte a packet with <paramref name="seed"/> carries at file offset <paramref name="offset"/>.</summary>
    private static byte Content(int seed, long offset) => (byte)((offset * 31) + (seed * 17) + (offset >> 8));

    private static ExpectedAck Ok(long received) => new(200, null, Text(received));

    private static ExpectedAck Error(int status, string code) => new(status, code, null);

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed class Session(string url, string? user, int plannedTotal)
    {
        public string Url { get; } = url;

        public string? User { get; } = user;

        public int PlannedTotal { get; } = plannedTotal;

        public long? Total { get; set; }

        public List<byte> Data { get; } = [];

        public State State { get; set; } = State.Open;
    }
}

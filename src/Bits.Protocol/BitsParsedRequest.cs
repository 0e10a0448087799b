namespace Bits.Protocol;

/// <summary>
/// A <see cref="BitsRequest"/> parsed once (one per request, made by <see cref="BitsProtocolHandler.HandleAsync"/>):
/// the packet type, the destination (decoded path, area and blob name), the normalised session id with its echo, and
/// the owner key. Every packet class reads these; none parses the path, resolves the area or normalises the id again.
/// The path is parsed when first asked for, inside the packet's handling (a request refused before, such as a 405,
/// never parses it). Used by one request at a time, like the request itself.
/// </summary>
internal sealed class BitsParsedRequest
{
    private readonly BitsAreaCatalog _areas;
    private BitsDestination? _destination;
    private string? _pathProblem;
    private bool _pathParsed;

    public BitsParsedRequest(BitsRequest request, BitsAreaCatalog areas)
    {
        Request = request;
        _areas = areas;
        PacketType = BitsPacketTypes.TryParse(request.PacketType, out var packetType) ? packetType : default;
        if (BitsSessionIds.TryNormalize(request.SessionId, out var id))
        {
            SessionId = id;
            Echo = EchoOf(request.SessionId!, id);
        }

        Owner = request.Owner ?? request.User;
    }

    public BitsRequest Request { get; }

    /// <summary>The packet type; <c>default</c> when <c>BITS-Packet-Type</c> is missing or unknown.</summary>
    public BitsPacketType PacketType { get; }

    /// <summary>The destination the path names (its area and blob name); null when the path is refused.</summary>
    public BitsDestination? Destination
    {
        get
        {
            ParsePath();
            return _destination;
        }
    }

    /// <summary>Why the path was refused (<see cref="DestinationPath.TryParse"/>); null when <see cref="Destination"/> is set.</summary>
    public string? PathProblem
    {
        get
        {
            ParsePath();
            return _pathProblem;
        }
    }

    /// <summary>The session id in its stored form (<see cref="BitsSessionIds.TryNormalize"/>); null when it is not a session id.</summary>
    public string? SessionId { get; }

    /// <summary>The session id the Ack echoes (see <see cref="EchoOf"/>); null when it is not a session id.</summary>
    public string? Echo { get; }

    /// <summary>The request's owner key: what the host authenticated (<see cref="BitsRequest.Owner"/>), else the user name.</summary>
    public string? Owner { get; }

    /// <summary>501 + E_ACCESSDENIED when the destination's area has uploads disabled; null otherwise.</summary>
    public BitsError? AreaDisabled() => Destination is { Area: { Enabled: false } area }
        ? BitsErrors.UploadsDisabled.Error($"BITS uploads are disabled for area '{area.Name}'.")
        : null;

    /// <summary>An error Ack echoing the session id.</summary>
    public BitsResponse Fail(BitsError error) => BitsResponse.Failure(error).WithSession(Echo);

    private void ParsePath()
    {
        if (!_pathParsed)
        {
            if (DestinationPath.TryParse(Request.RawPath, out var path, out var problem))
            {
                _destination = _areas.Resolve(path);
            }
            else
            {
                _pathProblem = problem;
            }

            _pathParsed = true;
        }
    }

    /// <summary>
    /// The client's session id, echoed verbatim when it is a well-formed id spelled in visible ASCII (never arbitrary
    /// text). <see cref="Guid.TryParse(string?, out Guid)"/> also accepts spellings with white space inside (CR, LF,
    /// U+2028 in the <c>{0x..,0x..}</c> form); those get the canonical id instead, so no echo can break a header.
    /// </summary>
    private static string EchoOf(string sent, string id)
    {
        var verbatim = sent.Trim();
        return verbatim.All(c => c is > ' ' and < '\u007F') ? verbatim : id;
    }
}

namespace Bits.Client;

/// <summary>
/// The event id of every message the client logs, in the range 5000-5999 that the server's <c>BitsEventIds.Client</c>
/// gives the client and the CLI (this project references none, so it cannot use that class). Ids are stable; a new
/// message takes the next free id.
/// </summary>
public static class BitsClientEventIds
{
    // 2001-2007 until issue 17, which gave them to the Azure store.
    public const int BitsAck = 5001;
    public const int BitsRetry = 5002;
    public const int BitsSessionCreated = 5003;
    public const int BitsSessionRestart = 5004;
    public const int BitsFragmentShrunk = 5005;
    public const int BitsResync = 5006;
    public const int BitsCompleted = 5007;
}

namespace Bits.Protocol;

/// <summary>
/// The event id of every message the server logs: one range of a thousand per component, so that an id names its
/// component and no two messages share one. Each <c>[LoggerMessage]</c> takes its id from here, under a constant named
/// like its <c>EventName</c>. Ids are stable (log queries and alerts may filter on them): a new message takes the next
/// free id in its component's range, a new component the next free thousand. <c>EventIdTests</c>
/// (<c>tests/Bits.Host.Tests</c>) reflects over the shipped assemblies and fails on a shared id, an id outside its
/// component's range, or a message whose id is not declared here.
/// </summary>
public static class BitsEventIds
{
    /// <summary>1000-1999: the protocol core (<c>Bits.Protocol</c>): packets, back-end notification, destination copy,
    /// completion events.</summary>
    public static class Protocol
    {
        public const int First = 1000;
        public const int Last = 1999;

        // Packets (BitsProtocolHandler and the packet classes).
        public const int SessionCreated = 1001;
        public const int Published = 1002;
        public const int Cancelled = 1003;
        public const int PacketFailed = 1004;
        public const int StorageUnavailable = 1005;
        public const int UnhandledError = 1006;
        public const int BodyIncomplete = 1007;
        public const int OverlapTrimmed = 1008;
        public const int IncompleteDiscarded = 1009;
        public const int SessionGone = 1010;
        public const int StagedDataDiscarded = 1012;
        public const int IdleDiscarded = 1013;

        // Completion events (BitsCompletionEvents).
        public const int CompletionEventLost = 1011;
        public const int CompletionEventPending = 1021;
        public const int CompletionEventDropped = 1022;

        // Back-end notification (BitsNotifier).
        public const int BackEndAccepted = 1101;
        public const int BackEndRefused = 1102;
        public const int BackEndTimedOut = 1103;
        public const int BackEndUnreachable = 1104;
        public const int BackEndInvalidStaticUrl = 1105;
        public const int BackEndReplyTooLarge = 1106;

        // Copy into the destination (BitsDestinationCopy).
        public const int CopyContinuesLater = 1201;
        public const int CopyStartFailed = 1202;
    }

    /// <summary>2000-2999: the Azure store (<c>Bits.Storage.Azure</c>).</summary>
    public static class Storage
    {
        public const int First = 2000;
        public const int Last = 2999;

        public const int AlreadyPublished = 2001;
        public const int PublishRaced = 2002;
        public const int SessionRowAlreadyStored = 2003;
        public const int StagedBlocksGone = 2004;
        public const int OtherSessionDiscarded = 2005;
        public const int BlobFull = 2006;

        // Expiry (AzureBitsUploadStore.Expiry).
        public const int SessionExpired = 2101;
    }

    /// <summary>3000-3999: the session janitor, in the core (<c>BitsSessionJanitor</c>) and in the hosts
    /// (<c>BitsJanitorHostedService</c>).</summary>
    public static class Janitor
    {
        public const int First = 3000;
        public const int Last = 3999;

        // The runs (BitsSessionJanitor).
        public const int JanitorRunCompleted = 3001;
        public const int JanitorNothingDue = 3002;
        public const int JanitorUnsupported = 3003;
        public const int JanitorRunFailed = 3004;
        public const int JanitorDisabled = 3005;
        public const int JanitorPendingEvents = 3006;

        // The Kestrel host's schedule (BitsJanitorHostedService).
        public const int JanitorStarted = 3101;
        public const int JanitorInactive = 3102;
    }

    /// <summary>4000-4999: the ASP.NET Core adapter (<c>Bits.AspNetCore</c>): authentication and throttling.</summary>
    public static class AspNetCore
    {
        public const int First = 4000;
        public const int Last = 4999;

        // Authentication (BitsAuthenticator; 40-45 until issue 17).
        public const int Challenged = 4001;
        public const int Refused = 4002;
        public const int UserNotAllowed = 4003;
        public const int Authenticated = 4004;
        public const int KeysUnavailable = 4005;
        public const int Throttled = 4006;
    }

    /// <summary>5000-5999: the .NET client and the <c>bits</c> CLI. <c>Bits.Client</c> references no project, so its
    /// ids live in its own <c>Bits.Client.BitsClientEventIds</c>, inside this range.</summary>
    public static class Client
    {
        public const int First = 5000;
        public const int Last = 5999;
    }
}

using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// What the store contracts (<see cref="BitsUploadStoreContract"/>, <see cref="BitsReplyStoreContract"/>,
/// <see cref="BitsExpiryStoreContract"/>) share: the store under test, how a test looks into its storage, and sessions
/// to work with. Each contract runs against the in-memory store and against the Azure store on Azurite.
/// </summary>
public abstract class BitsStoreContract
{
    protected abstract IBitsUploadStore Store { get; }

    /// <summary>The published file at <paramref name="destination"/>, or null.</summary>
    protected abstract Task<byte[]?> ReadPublishedAsync(string destination);

    /// <summary>Staged items (uncommitted blocks of the session, blobs of its own) still held for the session.</summary>
    protected abstract Task<int> CountStagedAsync(BitsSession session);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The creation time of new sessions: the store's clock.</summary>
    protected virtual DateTimeOffset Now => DateTimeOffset.UtcNow;

    protected static string NewDestination() => $"contract/{Guid.NewGuid():N}/file name+1.bin";

    /// <summary>
    /// Creates a session (of <paramref name="user"/>; with its own staging, as in an upload-reply area, when
    /// <paramref name="privateStaging"/>), reads it back and sets its total length if given.
    /// </summary>
    protected async Task<BitsSession> NewSessionAsync(
        string? destination = null, long? total = null, string? user = "alice", bool privateStaging = false, DateTimeOffset? createdAt = null)
    {
        var session = new BitsSession
        {
            Id = BitsSessionIds.NewId(),
            Destination = destination ?? NewDestination(),
            ContentName = "report ü.bin",
            User = user,
            CreatedAt = createdAt ?? Now,
            PrivateStaging = privateStaging,
        };
        await Store.CreateSessionAsync(session, Ct);
        var stored = await Store.GetSessionAsync(session.Id, Ct);
        Assert.NotNull(stored);
        if (total is { } t)
        {
            stored = await Store.TrySetTotalLengthAsync(stored, t, Ct);
            Assert.NotNull(stored);
        }

        return stored;
    }

    /// <summary>Stages the bytes in pieces of <paramref name="piece"/>, each recorded; returns the updated session.</summary>
    protected async Task<BitsSession> StageAllAsync(BitsSession session, byte[] data, int piece, int? upTo = null)
    {
        var end = upTo ?? data.Length;
        for (var offset = (int)session.ReceivedLength; offset < end;)
        {
            var length = Math.Min(piece, end - offset);
            session = await Store.StageAsync(session, offset, data.AsMemory(offset, length), alreadyStaged: false, Ct)
                ?? throw new InvalidOperationException("stage not recorded");
            offset += length;
        }

        return session;
    }
}

using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.Storage.Azure;

/// <summary>
/// <see cref="IBitsUploadStore"/> on Azure Storage (see docs/architecture.md, "Storage design").
/// <list type="bullet">
/// <item>Sessions: one table row per session (PartitionKey = session id, RowKey <c>session</c>) holding the offset
/// truth (<c>Received</c>), advanced with If-Match by every stored Fragment; replaced atomically by a tombstone row
/// (RowKey <c>tombstone</c>) at Close/Cancel.</item>
/// <item>Data: every Fragment is one Put Block on the destination blob itself (or, in upload-reply areas, on the
/// session's own blob <c>{id}/request</c> in the staging container), with a fixed-length block id naming the session and
/// the byte range, so a retransmit or a racing duplicate rewrites the same block.</item>
/// <item>Publish: one conditional Put Block List of the session's chain of blocks from 0 to the total: metadata only.</item>
/// <item>Destination registry: rows <c>d-&lt;hash of container and name&gt;</c> / session id list the sessions staging
/// on a destination, so a commit can tell them their blocks are gone, and a clean-up never harms them.</item>
/// </list>
/// </summary>
public sealed partial class AzureBitsUploadStore : IBitsUploadStore
{
    internal const string SessionRowKey = "session";
    internal const string TombstoneRowKey = "tombstone";
    internal const string OverwrittenRowKey = "overwritten";
    internal const string DestinationPartitionPrefix = "d-";
    internal const string SessionIdMetadata = "bitssessionid";
    internal const string ContentNameMetadata = "bitscontentname";
    internal const string UploaderMetadata = "bitsuploader";

    /// <summary>The <c>Layout</c> of sessions staged as blocks where the file will live; rows without it are append segments of an earlier version.</summary>
    internal const string BlocksLayout = "blocks";

    /// <summary>Length of a block id before Base64: 32 hex digits of the session, 12 of the offset, 8 of the length.</summary>
    internal const int BlockIdLength = 52;

    private const int MaxPublishAttempts = 4;

    private readonly BlobServiceClient _blobService;
    private readonly TableClient _table;
    private readonly BlobContainerClient _staging;
    private readonly BlobContainerClient _uploads;
    private readonly StagingSourceAuthorizer _sourceAuthorizer;
    private readonly AzureBitsStorageOptions _options;
    private readonly BitsServerOptions _serverOptions;
    private readonly TimeProvider _time;
    private readonly ILogger<AzureBitsUploadStore> _logger;

    public AzureBitsUploadStore(
        BlobServiceClient blobService,
        TableServiceClient tableService,
        IOptions<AzureBitsStorageOptions> options,
        IOptions<BitsServerOptions> serverOptions,
        TimeProvider time,
        ILogger<AzureBitsUploadStore> logger)
    {
        _options = options.Value;
        _serverOptions = serverOptions.Value;
        _blobService = blobService;
        _table = tableService.GetTableClient(_options.SessionTable);
        _staging = blobService.GetBlobContainerClient(_options.StagingContainer);
        _uploads = blobService.GetBlobContainerClient(_options.UploadContainer);
        _sourceAuthorizer = new StagingSourceAuthorizer(blobService, time);
        _time = time;
        _logger = logger;
    }

    /// <summary>Creates the table and containers (the default upload container plus <paramref name="uploadContainers"/>) if missing.</summary>
    public async Task InitializeAsync(IEnumerable<string?>? uploadContainers = null, CancellationToken cancellationToken = default)
    {
        await _table.CreateIfNotExistsAsync(cancellationToken);
        await _staging.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        await _uploads.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        foreach (var container in (uploadContainers ?? []).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            await Uploads(container).CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        }
    }

    public Task CreateSessionAsync(BitsSession session, CancellationToken cancellationToken) => Guard(async () =>
    {
        var entity = SessionEntity(session with { StoreState = BlocksLayout }, SessionRowKey, BitsSessionState.Open);
        entity["Received"] = 0L;

        // The index rows and the destination registry first: a session row never exists without its expiry entry, and
        // no session stages on a destination without being listed there.
        await Task.WhenAll(
            IndexNewSessionAsync(session, cancellationToken),
            session.PrivateStaging ? Task.CompletedTask : _table.UpsertEntityAsync(RegistryEntity(session), TableUpdateMode.Replace, cancellationToken));
        try
        {
            await _table.AddEntityAsync(entity, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.IsConflict())
        {
            // The id is fresh and random, so the row can only be our own: the insert was stored but its response was
            // lost, and the SDK's retry found it. Failing here would leave an orphan session behind an error.
            Log.SessionRowAlreadyStored(_logger, session.Id);
        }
    }, cancellationToken);

    public Task<BitsSession?> GetSessionAsync(string sessionId, CancellationToken cancellationToken) => Guard(async () =>
    {
        // One request whatever the answer (open session, tombstone, nothing): an unknown id and another user's session
        // cost the same storage requests, so neither their number nor their timing tells a caller which ids exist
        // (issue 12, point 13). Both rows live in the session's partition.
        TableEntity? row = null;
        TableEntity? tombstone = null;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {sessionId} and (RowKey eq {SessionRowKey} or RowKey eq {TombstoneRowKey})");
        await foreach (var entity in _table.QueryAsync<TableEntity>(filter, maxPerPage: 2, cancellationToken: cancellationToken))
        {
            if (entity.RowKey == SessionRowKey)
            {
                row = entity;
            }
            else
            {
                tombstone = entity;
            }
        }

        if (row is not null)
        {
            return ToSession(row);
        }

        if (tombstone is not null && tombstone.GetDateTimeOffset("ExpiresAt") > _time.GetUtcNow())
        {
            return ToSession(tombstone);
        }

        return (BitsSession?)null;
    }, cancellationToken);

    public Task<BitsSession?> TrySetTotalLengthAsync(BitsSession session, long totalLength, CancellationToken cancellationToken) => Guard(async () =>
    {
        var entity = new TableEntity(session.Id, SessionRowKey) { ["TotalLength"] = totalLength };
        if (!string.IsNullOrEmpty(session.ContentName))
        {
            // Rule 6a.9: the name may arrive only now, on the first Fragment; same write, same condition.
            entity["ContentName"] = session.ContentName;
        }

        try
        {
            var response = await _table.UpdateEntityAsync(entity, new ETag(session.Version!), TableUpdateMode.Merge, cancellationToken);
            return session with { TotalLength = totalLength, Version = response.Headers.ETag?.ToString() };
        }
        catch (RequestFailedException ex) when (ex.IsPreconditionFailed() || ex.IsNotFound())
        {
            return null;
        }
    }, cancellationToken);

    public Task<BitsSession?> StageAsync(BitsSession session, long offset, ReadOnlySequence<byte> data, bool alreadyStaged, CancellationToken cancellationToken) => Guard(async () =>
    {
        var progress = ProgressOf(session);
        var next = progress;
        long? moved = null;
        if (!data.IsEmpty)
        {
            // The one data write: a block where the file will live, or, when coalescing, an append to the segment.
            (var staged, moved) = await StageBytesAsync(session, progress, offset, data, alreadyStaged, cancellationToken);
            if (staged is not { } value)
            {
                return null;
            }

            next = value;
        }

        // The one metadata write: the offset truth (and the block count, and where the open segment begins),
        // conditional on the record as the caller knows it.
        var received = offset + data.Length;
        var entity = new TableEntity(session.Id, SessionRowKey) { ["Received"] = received, ["Blocks"] = next.Blocks };
        if (next.Segment is { } segment)
        {
            entity["Segment"] = segment;
        }

        try
        {
            var response = await _table.UpdateEntityAsync(entity, new ETag(session.Version!), TableUpdateMode.Merge, cancellationToken);
            if (moved is { } start)
            {
                // Moved into the blob and recorded: the segment's bytes are no longer needed.
                await SegmentBlob(session, start).DeleteIfExistsAsync(cancellationToken: cancellationToken);
            }

            return session with { ReceivedLength = received, Version = response.Headers.ETag?.ToString(), LastActivity = _time.GetUtcNow(), StoreState = next.Format() };
        }
        catch (RequestFailedException ex) when (ex.IsPreconditionFailed())
        {
            return null;
        }
        catch (RequestFailedException ex) when (ex.IsNotFound())
        {
            // The session ended meanwhile (a late Fragment through a cached session): the block just staged must not
            // stay listed on an otherwise empty destination.
            await CleanUpStagedAsync(session, cancellationToken);
            return null;
        }
    }, cancellationToken);

    public Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken) => Guard(async () =>
        (bool)await Uploads(container).GetBlobClient(destination).ExistsAsync(cancellationToken), cancellationToken);

    public Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken) => Guard(async () =>
    {
        _ = ProgressOf(session);
        var destination = Uploads(session.Container).GetBlockBlobClient(session.Destination);
        var total = session.TotalLength ?? 0;
        for (var attempt = 1; attempt <= MaxPublishAttempts; attempt++)
        {
            // Did this session publish already (a Close retried after a time-out, a crash, or on another instance)?
            // The destination first, then the record an overwriter leaves before replacing our commit: in that order a
            // publish followed by an overwrite can never look like a discarded session.
            var observed = await ObserveAsync(destination, cancellationToken);
            if (observed.SessionKey == SessionKey(session.Id) || await OverwrittenAsync(session.Id, cancellationToken))
            {
                return await AlreadyPublishedAsync(session, cancellationToken);
            }

            if (!session.PrivateStaging)
            {
                await MoveTailAsync(session, cancellationToken);
            }

            // Upload-reply sessions with BITS-Copy-File-To-Destination: the blocks CopyToDestinationAsync staged.
            var chain = await ChainAsync(destination, session.Id, total, _options.BlockBudget.MaxCommittedBlocks, cancellationToken);
            if (chain is null)
            {
                // Our blocks are gone: our own racing Close committed them meanwhile, or another session's commit
                // discarded them, or they expired. Never staged again.
                return await PublishedMeanwhileAsync(destination, session, cancellationToken)
                    ?? await CopyIncompleteOrGoneAsync(session, cancellationToken);
            }

            if (observed.Exists && !allowOverwrite)
            {
                return PublishResult.DestinationExists;
            }

            if (observed.SessionKey is { } previous)
            {
                // Before replacing another session's publish, tell it (insert only): its retried Close then knows it
                // published, even though the destination no longer names it.
                await ConfirmOverwrittenAsync(previous, session.Id, cancellationToken);
            }

            var options = new CommitBlockListOptions
            {
                HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" },
                Metadata = PublishedMetadata(session),
                Conditions = observed.Exists ? new BlobRequestConditions { IfMatch = observed.ETag } : new BlobRequestConditions { IfNoneMatch = ETag.All },
            };
            try
            {
                await destination.CommitBlockListAsync(chain, options, cancellationToken);
            }
            catch (RequestFailedException ex) when (ex.IsConflict() || ex.IsPreconditionFailed())
            {
                // The destination changed since it was observed (our own racing Close, or another upload): look again.
                Log.PublishRaced(_logger, session.Id, session.Destination);
                continue;
            }
            catch (RequestFailedException ex) when (ex.IsInvalidBlockList())
            {
                // A block of the chain vanished between the listing and the commit: our racing Close, or another
                // session committed. Never staged again: the client restarts the upload.
                return await PublishedMeanwhileAsync(destination, session, cancellationToken)
                    ?? await DiscardGoneAsync(session, cancellationToken);
            }

            await FinishPublishAsync(session, cancellationToken);
            return PublishResult.Published;
        }

        throw new BitsStoreUnavailableException($"The destination of session {session.Id} kept changing during the publish; retry.");
    }, cancellationToken);

    public Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken) => Guard(async () =>
    {
        if (session.State == BitsSessionState.Closed)
        {
            return true;
        }

        await ReplaceWithTombstoneAsync(session, finalState, cancellationToken);
        await CleanUpStagedAsync(session, cancellationToken);
        return true;
    }, cancellationToken);

    /// <summary>The blob a session's Fragments are staged on: the destination, or its own blob in upload-reply areas.</summary>
    private BlockBlobClient StagingTarget(BitsSession session) =>
        session.PrivateStaging ? RequestBlob(session) : Uploads(session.Container).GetBlockBlobClient(session.Destination);

    private BlockBlobClient RequestBlob(BitsSession session) => _staging.GetBlockBlobClient(SessionKey(session.Id) + "/request");

    /// <summary>The session's staging progress; throws <see cref="BitsSessionGoneException"/> for rows of an earlier layout.</summary>
    private static StagingProgress ProgressOf(BitsSession session)
    {
        if (!StagingProgress.TryParse(session.StoreState, out var progress))
        {
            // Staged in append segments by an earlier version: no migration, the client starts again (rule 8 of issue 14).
            throw new BitsSessionGoneException($"Session {session.Id} was staged by an earlier version of the server; the client must start again.");
        }

        return progress;
    }

    /// <summary>
    /// The session's chain of staged blocks from 0 to <paramref name="total"/> (fewest blocks first), from one Get Block
    /// List; null when it has a hole (blocks discarded by another session's commit, or expired).
    /// </summary>
    private static async Task<List<string>?> ChainAsync(BlockBlobClient blob, string sessionId, long total, int maxBlocks, CancellationToken cancellationToken)
    {
        if (total == 0)
        {
            return [];
        }

        var staged = await UncommittedBlockIdsAsync(blob, cancellationToken);
        var chain = staged is null ? null : BlockChain.Find(staged, SessionKey(sessionId), total);
        if (chain?.Count > maxBlocks)
        {
            // Coalescing keeps every session within the limit; a commit storage would refuse is never sent.
            throw new BitsStoreUnavailableException($"Session {sessionId} staged {chain.Count} blocks, more than one commit may name ({maxBlocks}).");
        }

        return chain;
    }

    /// <summary>The ids of the blob's uncommitted blocks (one Get Block List); null when the blob does not exist.</summary>
    private static async Task<HashSet<string>?> UncommittedBlockIdsAsync(BlockBlobClient blob, CancellationToken cancellationToken)
    {
        try
        {
            var list = (await blob.GetBlockListAsync(BlockListTypes.Uncommitted, cancellationToken: cancellationToken)).Value;
            return list.UncommittedBlocks.Select(b => b.Name).ToHashSet(StringComparer.Ordinal);
        }
        catch (RequestFailedException ex) when (ex.IsBlobNotFound())
        {
            return null;
        }
    }

    /// <summary>
    /// Commits an upload-reply session's own blob (metadata only; bounded time) so the back-end can read it. False when
    /// its blocks are gone.
    /// </summary>
    private async Task<bool> EnsureRequestCommittedAsync(BitsSession session, CancellationToken cancellationToken)
    {
        var request = RequestBlob(session);
        var observed = await ObserveAsync(request, cancellationToken);
        if (observed.SessionKey == SessionKey(session.Id))
        {
            return true;
        }

        await MoveTailAsync(session, cancellationToken);
        var chain = await ChainAsync(request, session.Id, session.TotalLength ?? 0, _options.BlockBudget.MaxCommittedBlocks, cancellationToken);
        if (chain is null)
        {
            return false;
        }

        await request.CommitBlockListAsync(chain, new CommitBlockListOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" },
            Metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [SessionIdMetadata] = SessionKey(session.Id) },
        }, cancellationToken);
        return true;
    }

    /// <summary>The destination as it is: whether a committed blob exists, its ETag and the session that published it.</summary>
    private static async Task<(bool Exists, ETag ETag, string? SessionKey)> ObserveAsync(BlockBlobClient blob, CancellationToken cancellationToken)
    {
        try
        {
            var properties = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            return (true, properties.ETag, properties.Metadata.TryGetValue(SessionIdMetadata, out var key) ? key : null);
        }
        catch (RequestFailedException ex) when (ex.IsBlobNotFound())
        {
            return (false, default, null);
        }
    }

    private async Task<bool> OverwrittenAsync(string sessionId, CancellationToken cancellationToken) =>
        (await _table.GetEntityIfExistsAsync<TableEntity>(sessionId, OverwrittenRowKey, select: ["RowKey"], cancellationToken: cancellationToken)).HasValue;

    /// <summary>Records in the overwritten session's partition that it had published (insert only, never replaced).</summary>
    private async Task ConfirmOverwrittenAsync(string previousKey, string sessionId, CancellationToken cancellationToken)
    {
        if (!Guid.TryParseExact(previousKey, "N", out var previous))
        {
            return;
        }

        try
        {
            await _table.AddEntityAsync(
                new TableEntity(previous.ToString("B").ToUpperInvariant(), OverwrittenRowKey) { ["By"] = sessionId, ["At"] = _time.GetUtcNow() },
                cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.IsConflict())
        {
            // Recorded before (a retried overwrite, or an earlier one): the fact does not change.
        }
    }

    /// <summary>After the commit: tell the other sessions staging on the destination, then the tombstone.</summary>
    private async Task FinishPublishAsync(BitsSession session, CancellationToken cancellationToken)
    {
        if (!session.PrivateStaging)
        {
            await MarkOthersDiscardedAsync(session, cancellationToken);
        }

        await ReplaceWithTombstoneAsync(session, BitsSessionState.Closed, cancellationToken);
        await CleanUpStagedAsync(session with { State = BitsSessionState.Closed }, cancellationToken);
    }

    /// <summary>
    /// Our commit deleted every other session's uncommitted blocks on this destination: their records are marked so
    /// that their next Fragment (whose If-Match now fails) reads them and answers BG_E_SESSION_NOT_FOUND.
    /// </summary>
    private async Task MarkOthersDiscardedAsync(BitsSession session, CancellationToken cancellationToken)
    {
        foreach (var other in await RegisteredSessionsAsync(session, cancellationToken))
        {
            if (other == session.Id)
            {
                continue;
            }

            try
            {
                await _table.UpdateEntityAsync(new TableEntity(other, SessionRowKey) { ["Discarded"] = true }, ETag.All, TableUpdateMode.Merge, cancellationToken);
                Log.OtherSessionDiscarded(_logger, other, session.Id);
            }
            catch (RequestFailedException ex) when (ex.IsNotFound())
            {
                // Ended meanwhile.
            }
        }
    }

    /// <summary>The session's blocks are gone: its record becomes a Discarded tombstone; what is left is cleaned up.</summary>
    private async Task<PublishResult> DiscardGoneAsync(BitsSession session, CancellationToken cancellationToken)
    {
        Log.StagedBlocksGone(_logger, session.Id, session.Destination);
        await ReplaceWithTombstoneAsync(session, BitsSessionState.Discarded, cancellationToken);
        await CleanUpStagedAsync(session, cancellationToken);
        return PublishResult.Discarded;
    }

    /// <summary>
    /// No chain of the session's blocks on the destination. For a <c>BITS-Copy-File-To-Destination</c> copy whose source
    /// (the session's own blob) is still there, the copy is incomplete (its blocks were removed by another upload's
    /// commit or clean-up after it was done): a transient failure, and the next Close-Session copies them again from
    /// that unchanged source. Otherwise the staged data is gone and the session is discarded.
    /// </summary>
    private async Task<PublishResult> CopyIncompleteOrGoneAsync(BitsSession session, CancellationToken cancellationToken)
    {
        if (session.PrivateStaging && await EnsureRequestCommittedAsync(session, cancellationToken))
        {
            throw new BitsStoreUnavailableException($"The copy of session {session.Id} into its destination is incomplete; the next Close-Session continues it.");
        }

        return await DiscardGoneAsync(session, cancellationToken);
    }

    private async Task<PublishResult> AlreadyPublishedAsync(BitsSession session, CancellationToken cancellationToken)
    {
        Log.AlreadyPublished(_logger, session.Id, session.Destination);
        await FinishPublishAsync(session, cancellationToken);
        return PublishResult.Published;
    }

    /// <summary>
    /// Looked at after finding our blocks gone: published by our own racing Close (the destination names us, or an
    /// overwriter recorded that it replaced us, always before its commit) is Published; null otherwise.
    /// </summary>
    private async Task<PublishResult?> PublishedMeanwhileAsync(BlockBlobClient destination, BitsSession session, CancellationToken cancellationToken) =>
        (await ObserveAsync(destination, cancellationToken)).SessionKey == SessionKey(session.Id) || await OverwrittenAsync(session.Id, cancellationToken)
            ? await AlreadyPublishedAsync(session, cancellationToken)
            : null;

    /// <summary>
    /// Removes what an ended session staged, where that harms no one: its own blobs in the staging container, its
    /// registry row, and the destination's uncommitted-only blob when no open session but this one staged on it (a
    /// listing with uncommitted blobs then shows nothing). Blocks on a published destination are invisible to listings
    /// and are left to the next commit or to storage's 7-day expiry; they are never removed by a recommit.
    /// </summary>
    private async Task CleanUpStagedAsync(BitsSession session, CancellationToken cancellationToken)
    {
        var blocks = StagingProgress.TryParse(session.StoreState, out var progress);
        if (session.PrivateStaging || !blocks || progress.Segment is not null)
        {
            // Its own blobs (upload-reply, coalescing segments), or the append segments of an earlier version: one list, then deletes.
            await DeleteStagingAsync(session.Id, cancellationToken);
            if (!blocks || (session.PrivateStaging && !IsCopyingToDestination(session)))
            {
                return;
            }

            // Coalescing segments, or a BITS-Copy-File-To-Destination copy, may have staged blocks on the destination
            // too: same rules below.
        }

        if (!session.PrivateStaging)
        {
            await _table.DeleteEntityAsync(DestinationPartition(session.Container, session.Destination), session.Id, ETag.All, cancellationToken);
        }

        if (session.ReceivedLength == 0 && session.TotalLength is not > 0)
        {
            return;
        }

        var destination = Uploads(session.Container).GetBlockBlobClient(session.Destination);
        if ((await ObserveAsync(destination, cancellationToken)).Exists)
        {
            return;
        }

        BlockList list;
        try
        {
            list = (await destination.GetBlockListAsync(BlockListTypes.Uncommitted, cancellationToken: cancellationToken)).Value;
        }
        catch (RequestFailedException ex) when (ex.IsBlobNotFound())
        {
            return;
        }

        var others = (await RegisteredSessionsAsync(session, cancellationToken)).Where(id => id != session.Id).Select(SessionKey).ToHashSet(StringComparer.Ordinal);
        if (list.UncommittedBlocks.Any(b => BlockChain.OwnerOf(b.Name) is not { } owner || others.Contains(owner)))
        {
            // Another open session stages here (or blocks we do not know): its commit or the 7-day expiry removes ours.
            return;
        }

        try
        {
            // Only an uncommitted-only blob: a blob committed meanwhile has an ETag and fails If-None-Match *.
            await destination.DeleteAsync(DeleteSnapshotsOption.None, new BlobRequestConditions { IfNoneMatch = ETag.All }, cancellationToken);
        }
        catch (RequestFailedException ex) when (ex.IsNotFound() || ex.IsPreconditionFailed() || ex.IsConflict())
        {
            // Gone already, or committed meanwhile: nothing of ours is visible.
        }
    }

    private static bool IsCopyingToDestination(BitsSession session) =>
        session.PrivateStaging && StagingProgress.TryParse(session.StoreState, out _) && session.Notification is { CopyToDestination: true };

    /// <summary>Ids of the sessions listed as staging on the session's destination (one partition query).</summary>
    private async Task<List<string>> RegisteredSessionsAsync(BitsSession session, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {DestinationPartition(session.Container, session.Destination)}");
        await foreach (var row in _table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken))
        {
            ids.Add(row.RowKey);
        }

        return ids;
    }

    private static TableEntity RegistryEntity(BitsSession session) =>
        new(DestinationPartition(session.Container, session.Destination), session.Id) { ["CreatedAt"] = session.CreatedAt };

    /// <summary>The registry partition of a destination: <c>d-</c> + hex SHA-256 of the container and name (no user text in keys).</summary>
    internal static string DestinationPartition(string? container, string destination) =>
        DestinationPartitionPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes((container ?? string.Empty) + "\n" + destination)));

    /// <summary>The block id of the bytes [offset, offset + length) of a session: fixed length, Base64 of ASCII.</summary>
    internal static string BlockId(string sessionId, long offset, long length) =>
        Convert.ToBase64String(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{SessionKey(sessionId)}{offset:x12}{length:x8}")));

    private async Task ReplaceWithTombstoneAsync(BitsSession session, BitsSessionState state, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        await IndexTombstoneAsync(session, now + _serverOptions.TombstoneLifetime, cancellationToken);
        var tombstone = SessionEntity(session, TombstoneRowKey, state);
        tombstone["TotalLength"] = session.TotalLength;
        tombstone["EndedAt"] = now;
        tombstone["ExpiresAt"] = now + _serverOptions.TombstoneLifetime;
        TableTransactionAction[] actions =
        [
            new(TableTransactionActionType.Delete, new TableEntity(session.Id, SessionRowKey), ETag.All),
            new(TableTransactionActionType.UpsertReplace, tombstone),
        ];
        try
        {
            await _table.SubmitTransactionAsync(actions, cancellationToken);
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 404)
        {
            // The session row is gone already (a concurrent Close/Cancel): keep the tombstone that is there.
        }

        await UnindexUserAsync(session, cancellationToken);
    }

    /// <summary>Every staging blob of the session, uncommitted ones included (a reply the back-end staged but never committed).</summary>
    private async Task DeleteStagingAsync(string sessionId, CancellationToken cancellationToken)
    {
        await foreach (var blob in _staging.GetBlobsAsync(new GetBlobsOptions { Prefix = SessionKey(sessionId) + "/", States = BlobStates.Uncommitted }, cancellationToken))
        {
            await _staging.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken);
        }
    }

    private Dictionary<string, string> PublishedMetadata(BitsSession session)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SessionIdMetadata] = SessionKey(session.Id),
        };
        if (!string.IsNullOrEmpty(session.ContentName))
        {
            metadata[ContentNameMetadata] = Uri.EscapeDataString(session.ContentName);
        }

        if (!string.IsNullOrEmpty(session.User))
        {
            metadata[UploaderMetadata] = Uri.EscapeDataString(session.User);
        }

        metadata["bitsuploadseconds"] = ((long)(_time.GetUtcNow() - session.CreatedAt).TotalSeconds).ToString(CultureInfo.InvariantCulture);
        return metadata;
    }

    private BlobContainerClient Uploads(string? container) =>
        container is null ? _uploads : _blobService.GetBlobContainerClient(container);

    /// <summary>The session id as used in blob names and metadata: 32 lower-case hex digits.</summary>
    internal static string SessionKey(string sessionId) => Guid.Parse(sessionId).ToString("N");

    /// <summary>The facts a session row and its tombstone share (the inverse of <see cref="ToSession"/>).</summary>
    private static TableEntity SessionEntity(BitsSession session, string rowKey, BitsSessionState state) => new(session.Id, rowKey)
    {
        // The staging progress too: a clean-up run again from the tombstone (DiscardAsync on it) finds the session's
        // segments (without it only the janitor's sweep at the tombstone's expiry removed them).
        ["Blocks"] = StagingProgress.TryParse(session.StoreState, out var progress) ? progress.Blocks : null,
        ["Segment"] = progress.Segment,
        // A pending completion event moves with a publish to its Closed tombstone; a discarded session owes none.
        [EventQueueProperty] = state is BitsSessionState.Open or BitsSessionState.Closed ? session.PendingEvent?.Queue : null,
        [EventAtProperty] = state is BitsSessionState.Open or BitsSessionState.Closed ? session.PendingEvent?.CompletedAt : null,
        ["Destination"] = session.Destination,
        ["Container"] = session.Container,
        ["Area"] = session.Area,
        ["ContentName"] = session.ContentName,
        ["User"] = session.User,
        ["Owner"] = session.Owner,
        ["CreatedAt"] = session.CreatedAt,
        ["State"] = (int)state,
        ["Layout"] = session.StoreState?.Split('/')[0],
        ["Private"] = session.PrivateStaging,
    };

    private static BitsSession ToSession(TableEntity entity) => new()
    {
        Id = entity.PartitionKey,
        Destination = entity.GetString("Destination") ?? string.Empty,
        Container = entity.GetString("Container"),
        Area = entity.GetString("Area"),
        ContentName = entity.GetString("ContentName"),
        User = entity.GetString("User"),
        Owner = entity.GetString("Owner"),
        CreatedAt = entity.GetDateTimeOffset("CreatedAt") ?? DateTimeOffset.MinValue,
        TotalLength = entity.GetInt64("TotalLength"),
        State = entity.GetBoolean("Discarded") == true ? BitsSessionState.Discarded : (BitsSessionState)(entity.GetInt32("State") ?? 0),
        Version = entity.ETag.ToString(),
        StoreState = StoreStateOf(entity),
        ReceivedLength = entity.GetInt64("Received") ?? 0,
        LastActivity = entity.Timestamp,
        PrivateStaging = entity.GetBoolean("Private") == true,
        Notification = NotificationOf(entity),
        PendingEvent = PendingEventOf(entity),
    };

    /// <summary>The layout, and for <c>blocks</c> sessions the block count and open segment (see <see cref="StagingProgress"/>).</summary>
    private static string? StoreStateOf(TableEntity entity) => entity.GetString("Layout") is BlocksLayout
        ? new StagingProgress(entity.GetInt64("Blocks") ?? 0, entity.GetInt64("Segment")).Format()
        : entity.GetString("Layout");

    /// <summary>
    /// Translates transient SDK failures into <see cref="BitsStoreUnavailableException"/> at the boundary: retryable
    /// statuses, failures without a response, and timeouts (the SDK cancels a try after its network timeout, so an
    /// <see cref="OperationCanceledException"/> while <paramref name="cancellationToken"/> is not cancelled means storage
    /// did not answer in time), also when they come as the SDK's <see cref="AggregateException"/> after its last retry.
    /// </summary>
    private static async Task<T> Guard<T>(Func<Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await operation();
        }
        catch (RequestFailedException ex) when (ex.IsTransient())
        {
            throw new BitsStoreUnavailableException($"Storage answered {ex.Status} {ex.ErrorCode}.", ex);
        }
        catch (RequestFailedException ex) when (ex.IsResourceMissing())
        {
            // A container or the table deleted by an operator: a server fault (503, logged by the handler), never
            // BG_E_SESSION_NOT_FOUND, which would make every client restart forever.
            throw new BitsStoreUnavailableException($"Storage answered {ex.Status} {ex.ErrorCode}: a container or the session table is missing.", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BitsStoreUnavailableException("Storage did not answer within the network timeout.", ex);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => IsTransient(e, cancellationToken)))
        {
            throw new BitsStoreUnavailableException("Storage failed transiently.", ex);
        }
    }

    private static Task<bool> Guard(Func<Task> operation, CancellationToken cancellationToken) => Guard(async () =>
    {
        await operation();
        return true;
    }, cancellationToken);

    private static bool IsTransient(Exception exception, CancellationToken cancellationToken) =>
        exception is RequestFailedException { } failure ? failure.IsTransient() : exception is OperationCanceledException && !cancellationToken.IsCancellationRequested;

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Storage.AlreadyPublished, LogLevel.Information, "Session {SessionId} was already published to {Destination}; finishing clean-up", EventName = "AlreadyPublished")]
        public static partial void AlreadyPublished(ILogger logger, string sessionId, string destination);

        [LoggerMessage(BitsEventIds.Storage.PublishRaced, LogLevel.Information, "Publishing session {SessionId} to {Destination}: the destination changed since it was observed; looking again", EventName = "PublishRaced")]
        public static partial void PublishRaced(ILogger logger, string sessionId, string destination);

        [LoggerMessage(BitsEventIds.Storage.StagedBlocksGone, LogLevel.Warning, "Session {SessionId}: its staged blocks on {Destination} are gone (another session's commit, or expiry); discarded", EventName = "StagedBlocksGone")]
        public static partial void StagedBlocksGone(ILogger logger, string sessionId, string destination);

        [LoggerMessage(BitsEventIds.Storage.OtherSessionDiscarded, LogLevel.Information, "Session {SessionId} marked discarded: the commit of session {CommittingSessionId} deleted its staged blocks", EventName = "OtherSessionDiscarded")]
        public static partial void OtherSessionDiscarded(ILogger logger, string sessionId, string committingSessionId);

        [LoggerMessage(BitsEventIds.Storage.SessionRowAlreadyStored, LogLevel.Information, "Session {SessionId}: the retried insert of its row found it stored already (a lost response)", EventName = "SessionRowAlreadyStored")]
        public static partial void SessionRowAlreadyStored(ILogger logger, string sessionId);
    }
}

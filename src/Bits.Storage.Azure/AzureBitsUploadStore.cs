using System.Globalization;
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
/// <see cref="IBitsUploadStore"/> on Azure Storage.
/// <list type="bullet">
/// <item>Sessions: one table row per session (PartitionKey = session id, RowKey <c>session</c>), replaced atomically by a
/// tombstone row (RowKey <c>tombstone</c>) at Close/Cancel.</item>
/// <item>Staging: the bytes of a session live in append blobs <c>{id}/{k:D6}</c>, segment k holding logical bytes
/// [k·S, (k+1)·S). Every append is conditional on the append position, so storage itself checks the offset and a
/// duplicate or racing write can never store bytes twice. Segment k+1 is created when segment k fills up.</item>
/// <item>Publish: Put Block From URL over segment ranges, then one conditional Put Block List: atomic, server-side.</item>
/// </list>
/// A Fragment costs one append in the steady state, plus one table read when the handler does not remember the session.
/// </summary>
public sealed partial class AzureBitsUploadStore : IBitsUploadStore
{
    internal const string SessionRowKey = "session";
    internal const string TombstoneRowKey = "tombstone";
    internal const string SessionIdMetadata = "bitssessionid";
    internal const string ContentNameMetadata = "bitscontentname";
    internal const string UploaderMetadata = "bitsuploader";

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
        var entity = SessionEntity(session, SessionRowKey, BitsSessionState.Open);
        entity["SegmentBytes"] = _options.SegmentBytes;

        // Segment 0 and the index rows first: a session row never exists without its staging blob and expiry entry.
        await Task.WhenAll(Segment(session.Id, 0).CreateIfNotExistsAsync(cancellationToken: cancellationToken), IndexNewSessionAsync(session, cancellationToken));
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

    public Task<AppendResult> AppendAsync(BitsSession session, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => Guard(async () =>
    {
        var segmentBytes = SegmentBytesOf(session);
        var position = offset;
        var remaining = data;
        while (!remaining.IsEmpty)
        {
            var index = position / segmentBytes;
            var within = position - (index * segmentBytes);
            var count = (int)Math.Min(remaining.Length, segmentBytes - within);
            var stored = await AppendToSegmentAsync(session, index, within, remaining[..count], cancellationToken);
            if (stored is { } received)
            {
                // The position did not match: nothing of this piece was stored.
                return new AppendResult(false, received);
            }

            position += count;
            remaining = remaining[count..];
            if (within + count == segmentBytes)
            {
                // Segment full: open the next one so the next append finds it.
                await Segment(session.Id, index + 1).CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            }
        }

        return new AppendResult(true, position);
    }, cancellationToken);

    public Task<long> GetReceivedLengthAsync(BitsSession session, CancellationToken cancellationToken) => Guard(() =>
    {
        var segmentBytes = SegmentBytesOf(session);
        var hint = session.TotalLength is > 0 and { } total ? (total - 1) / segmentBytes : 0;
        return ReceivedLengthAsync(session, hint, cancellationToken);
    }, cancellationToken);

    public Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken) => Guard(async () =>
        (bool)await Uploads(container).GetBlobClient(destination).ExistsAsync(cancellationToken), cancellationToken);

    public Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken) => Guard(async () =>
    {
        var destination = Uploads(session.Container).GetBlockBlobClient(session.Destination);
        if (await PublishedBySessionAsync(destination, session.Id, cancellationToken))
        {
            // A retry after a crash between commit and tombstone: finish the clean-up only.
            Log.AlreadyPublished(_logger, session.Id, session.Destination);
        }
        else
        {
            var result = await CommitAsync(session, destination, allowOverwrite, cancellationToken);
            if (result == PublishResult.DestinationExists)
            {
                return result;
            }
        }

        await ReplaceWithTombstoneAsync(session, BitsSessionState.Closed, cancellationToken);
        await DeleteStagingAsync(session.Id, cancellationToken);
        return PublishResult.Published;
    }, cancellationToken);

    public Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken) => Guard(async () =>
    {
        await ReplaceWithTombstoneAsync(session, finalState, cancellationToken);
        await DeleteStagingAsync(session.Id, cancellationToken);
        return true;
    }, cancellationToken);

    /// <summary>Appends one piece inside one segment. Returns null when stored, else the true received length.</summary>
    private async Task<long?> AppendToSegmentAsync(BitsSession session, long index, long within, ReadOnlyMemory<byte> piece, CancellationToken cancellationToken)
    {
        var segment = Segment(session.Id, index);
        var conditions = new AppendBlobRequestConditions
        {
            IfAppendPositionEqual = within,
            IfMaxSizeLessThanOrEqual = SegmentBytesOf(session),
        };

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var content = Streams.Over(piece);
                await segment.AppendBlockAsync(content, new AppendBlobAppendBlockOptions { Conditions = conditions }, cancellationToken);
                return null;
            }
            catch (RequestFailedException ex) when (ex.IsAppendPositionMismatch())
            {
                return await ReceivedLengthAsync(session, index, cancellationToken);
            }
            catch (RequestFailedException ex) when (ex.IsNotFound() && attempt == 0)
            {
                // The segment does not exist: either the previous one is not full yet (a gap), the creator of this
                // segment crashed before creating it, or the session's staging is gone.
                var received = await ReceivedLengthAsync(session, index, cancellationToken);
                if (within != 0 || received != index * SegmentBytesOf(session))
                {
                    return received;
                }

                await segment.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            }
            catch (RequestFailedException ex) when (ex.IsBlockCountExceeded())
            {
                throw new InvalidOperationException(
                    $"Session {session.Id} reached the append-block limit of a staging segment; its fragments are too small.", ex);
            }
        }
    }

    /// <summary>
    /// The true number of bytes stored, found by probing segment lengths from <paramref name="hint"/>: up while segments
    /// are full, down while they are missing.
    /// </summary>
    private async Task<long> ReceivedLengthAsync(BitsSession session, long hint, CancellationToken cancellationToken)
    {
        var segmentBytes = SegmentBytesOf(session);
        var index = hint;
        long? lastMissing = null;
        while (true)
        {
            long length;
            try
            {
                var properties = await Segment(session.Id, index).GetPropertiesAsync(cancellationToken: cancellationToken);
                length = properties.Value.ContentLength;
            }
            catch (RequestFailedException ex) when (ex.IsNotFound())
            {
                if (index == 0)
                {
                    throw new BitsSessionGoneException($"Staging data of session {session.Id} does not exist.");
                }

                lastMissing = index;
                index--;
                continue;
            }

            if (length < segmentBytes || lastMissing == index + 1)
            {
                return (index * segmentBytes) + length;
            }

            index++;
        }
    }

    private async Task<PublishResult> CommitAsync(BitsSession session, BlockBlobClient destination, bool allowOverwrite, CancellationToken cancellationToken)
    {
        var total = session.TotalLength ?? 0;
        var segmentBytes = SegmentBytesOf(session);
        var sessionKey = SessionKey(session.Id);
        var options = new CommitBlockListOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" },
            Metadata = PublishedMetadata(session),
            Conditions = allowOverwrite ? null : new BlobRequestConditions { IfNoneMatch = ETag.All },
        };

        for (var attempt = 1; ; attempt++)
        {
            var blocks = PlanBlocks(total, segmentBytes, sessionKey);
            using (var throttle = new SemaphoreSlim(_options.PublishConcurrency))
            {
                await Task.WhenAll(blocks.Select(async block =>
                {
                    await throttle.WaitAsync(cancellationToken);
                    try
                    {
                        var source = await _sourceAuthorizer.AuthorizeAsync(Segment(session.Id, block.Segment), cancellationToken);
                        await destination.StageBlockFromUriAsync(
                            source,
                            block.Id,
                            new StageBlockFromUriOptions { SourceRange = new HttpRange(block.Offset, block.Length) },
                            cancellationToken);
                    }
                    finally
                    {
                        throttle.Release();
                    }
                }));
            }

            try
            {
                await destination.CommitBlockListAsync(blocks.Select(b => b.Id), options, cancellationToken);
                return PublishResult.Published;
            }
            catch (RequestFailedException ex) when (ex.IsConflict() || ex.IsPreconditionFailed())
            {
                return await PublishedBySessionAsync(destination, session.Id, cancellationToken)
                    ? PublishResult.Published
                    : PublishResult.DestinationExists;
            }
            catch (RequestFailedException ex) when (ex.IsInvalidBlockList() && attempt < 3)
            {
                // Another session committed to the same name and discarded our uncommitted blocks: stage again.
                Log.PublishRetried(_logger, session.Id, session.Destination);
            }
        }
    }

    private static List<PublishBlock> PlanBlocks(long total, long segmentBytes, string sessionKey)
    {
        var blocks = new List<PublishBlock>();
        var blockBytes = Math.Min(segmentBytes, 100L * 1024 * 1024);
        for (long position = 0; position < total;)
        {
            var segment = position / segmentBytes;
            var within = position - (segment * segmentBytes);
            var length = Math.Min(Math.Min(blockBytes, segmentBytes - within), total - position);
            var id = Convert.ToBase64String(Encoding.ASCII.GetBytes(
                string.Create(CultureInfo.InvariantCulture, $"{sessionKey}-{blocks.Count:D8}")));
            blocks.Add(new PublishBlock(id, segment, within, length));
            position += length;
        }

        return blocks;
    }

    private static async Task<bool> PublishedBySessionAsync(BlockBlobClient destination, string sessionId, CancellationToken cancellationToken)
    {
        try
        {
            var properties = await destination.GetPropertiesAsync(cancellationToken: cancellationToken);
            return properties.Value.Metadata.TryGetValue(SessionIdMetadata, out var id) && id == SessionKey(sessionId);
        }
        catch (RequestFailedException ex) when (ex.IsNotFound())
        {
            return false;
        }
    }

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

    private AppendBlobClient Segment(string sessionId, long index) =>
        _staging.GetAppendBlobClient(string.Create(CultureInfo.InvariantCulture, $"{SessionKey(sessionId)}/{index:D6}"));

    /// <summary>The session id as used in blob names and metadata: 32 lower-case hex digits.</summary>
    internal static string SessionKey(string sessionId) => Guid.Parse(sessionId).ToString("N");

    private long SegmentBytesOf(BitsSession session) =>
        long.TryParse(session.StoreState, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes > 0 ? bytes : _options.SegmentBytes;

    /// <summary>The facts a session row and its tombstone share (the inverse of <see cref="ToSession"/>).</summary>
    private static TableEntity SessionEntity(BitsSession session, string rowKey, BitsSessionState state) => new(session.Id, rowKey)
    {
        ["Destination"] = session.Destination,
        ["Container"] = session.Container,
        ["Area"] = session.Area,
        ["ContentName"] = session.ContentName,
        ["User"] = session.User,
        ["Owner"] = session.Owner,
        ["CreatedAt"] = session.CreatedAt,
        ["State"] = (int)state,
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
        State = (BitsSessionState)(entity.GetInt32("State") ?? 0),
        Version = entity.ETag.ToString(),
        StoreState = entity.GetInt64("SegmentBytes")?.ToString(CultureInfo.InvariantCulture),
        Notification = NotificationOf(entity),
    };

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

    private sealed record PublishBlock(string Id, long Segment, long Offset, long Length);

    private static partial class Log
    {
        [LoggerMessage(2001, LogLevel.Information, "Session {SessionId} was already published to {Destination}; finishing clean-up", EventName = "AlreadyPublished")]
        public static partial void AlreadyPublished(ILogger logger, string sessionId, string destination);

        [LoggerMessage(2002, LogLevel.Warning, "Publishing session {SessionId} to {Destination} raced with another commit; staging blocks again", EventName = "PublishRetried")]
        public static partial void PublishRetried(ILogger logger, string sessionId, string destination);

        [LoggerMessage(2003, LogLevel.Information, "Session {SessionId}: the retried insert of its row found it stored already (a lost response)", EventName = "SessionRowAlreadyStored")]
        public static partial void SessionRowAlreadyStored(ILogger logger, string sessionId);
    }
}

using System.Globalization;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;

namespace Bits.Storage.Azure;

/// <summary>
/// Completion events at least once (see docs/architecture.md, "Completion events"): the pending event is the
/// <c>EventQueue</c> (empty when none) and <c>EventAt</c> properties of the session row, copied to a Closed tombstone.
/// Marked sessions are listed for the janitor in rows <c>e-&lt;yyyyMMddHH of EventAt&gt;</c> / session id with
/// <c>DueAt</c>, written with the mark and deleted with it, so a janitor run reads only the few pending ones.
/// </summary>
public sealed partial class AzureBitsUploadStore : IBitsEventStore
{
    internal const string EventPartitionPrefix = "e-";
    internal const string EventQueueProperty = "EventQueue";
    internal const string EventAtProperty = "EventAt";

    public Task<BitsSession?> MarkEventPendingAsync(BitsSession session, BitsPendingEvent pending, DateTimeOffset dueAt, CancellationToken cancellationToken) => Guard(async () =>
    {
        // Both in parallel: the commit waits for both, so a crash in between leaves no publish that owes an event.
        var listing = _table.UpsertEntityAsync(EventEntry(session.Id, pending, dueAt), TableUpdateMode.Replace, cancellationToken);
        var mark = new TableEntity(session.Id, SessionRowKey) { [EventQueueProperty] = pending.Queue, [EventAtProperty] = pending.CompletedAt };
        var marking = _table.UpdateEntityAsync(mark, ETag.All, TableUpdateMode.Merge, cancellationToken);
        return await RowMissingAsync(marking, listing)
            ? null
            : session with { PendingEvent = pending, Version = (await marking).Headers.ETag?.ToString() };
    }, cancellationToken);

    public Task<bool> IsPublishedByAsync(BitsSession session, CancellationToken cancellationToken) => Guard(async () =>
        (await ObserveAsync(Uploads(session.Container).GetBlockBlobClient(session.Destination), cancellationToken)).SessionKey == SessionKey(session.Id),
        cancellationToken);

    public Task ClearPendingEventAsync(BitsSession session, CancellationToken cancellationToken) => Guard(async () =>
    {
        if (session.PendingEvent is not { } pending)
        {
            return;
        }

        // A live row of a session whose commit a crash interrupted, else the tombstone of a closed one.
        var rowKey = session.State == BitsSessionState.Closed ? TombstoneRowKey : SessionRowKey;
        var clear = new TableEntity(session.Id, rowKey) { [EventQueueProperty] = string.Empty };
        var unlist = _table.DeleteEntityAsync(EventPartition(pending.CompletedAt), session.Id, ETag.All, cancellationToken);

        // A missing row is gone (expired, or the live row replaced by its tombstone meanwhile): nothing left to clear.
        _ = await RowMissingAsync(_table.UpdateEntityAsync(clear, ETag.All, TableUpdateMode.Merge, cancellationToken), unlist);
    }, cancellationToken);

    public Task PostponePendingEventAsync(BitsSession session, DateTimeOffset dueAt, CancellationToken cancellationToken) => Guard(async () =>
    {
        if (session.PendingEvent is { } pending)
        {
            await _table.UpsertEntityAsync(EventEntry(session.Id, pending, dueAt), TableUpdateMode.Replace, cancellationToken);
        }
    }, cancellationToken);

    public Task<IReadOnlyList<BitsSession>> DuePendingEventsAsync(DateTimeOffset now, int maxItems, CancellationToken cancellationToken) => Guard(async () =>
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {EventPartitionPrefix} and PartitionKey le {EventPartition(now)} and DueAt le {now.ToUniversalTime()}");
        var due = new List<BitsSession>();
        await foreach (var entry in _table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(maxItems, 1000), cancellationToken: cancellationToken))
        {
            var session = BitsSessionIds.TryNormalize(entry.RowKey, out var id) && id == entry.RowKey ? await GetSessionAsync(id, cancellationToken) : null;
            if (session?.PendingEvent is null)
            {
                // Cleared, or the session is gone: the listing alone is left (deleted as read; a fresh mark stays).
                await DeleteRowAsync(entry, cancellationToken);
                continue;
            }

            due.Add(session);
            if (due.Count >= maxItems)
            {
                break;
            }
        }

        return (IReadOnlyList<BitsSession>)due;
    }, cancellationToken);

    /// <summary>
    /// Awaits a row write and the listing write sent beside it, so that neither fails unobserved; true when the row
    /// answered 404 and the listing write succeeded, any other failure is thrown.
    /// </summary>
    private static async Task<bool> RowMissingAsync(Task row, Task listing)
    {
        try
        {
            await Task.WhenAll(row, listing);
            return false;
        }
        catch (RequestFailedException) when (row.Exception?.InnerException is RequestFailedException ex && ex.IsNotFound() && listing.IsCompletedSuccessfully)
        {
            return true;
        }
    }

    private static TableEntity EventEntry(string sessionId, BitsPendingEvent pending, DateTimeOffset dueAt) =>
        new(EventPartition(pending.CompletedAt), sessionId) { ["DueAt"] = dueAt.ToUniversalTime() };

    /// <summary>The listing partition of a pending event: <c>e-yyyyMMddHH</c> of its <c>EventAt</c> (UTC), fixed for its life.</summary>
    internal static string EventPartition(DateTimeOffset eventAt) =>
        EventPartitionPrefix + eventAt.UtcDateTime.ToString("yyyyMMddHH", CultureInfo.InvariantCulture);

    private static BitsPendingEvent? PendingEventOf(TableEntity entity) =>
        entity.GetString(EventQueueProperty) is { Length: > 0 } queue && entity.GetDateTimeOffset(EventAtProperty) is { } at ? new BitsPendingEvent(queue, at) : null;
}

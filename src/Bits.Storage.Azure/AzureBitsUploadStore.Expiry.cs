using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using Bits.Protocol;
using Microsoft.Extensions.Logging;

namespace Bits.Storage.Azure;

/// <summary>
/// Session expiry and per-user accounting, through index rows in the session table (see docs/architecture.md,
/// "Session expiry janitor"):
/// <list type="bullet">
/// <item>Expiry index: PartitionKey <c>x-yyyyMMddHH</c> (the UTC hour its entry falls due), RowKey = session id,
/// <c>Kind</c> = <c>session</c> or <c>tombstone</c>, <c>DueAt</c>, and <c>UserKey</c> (the user partition, if any).
/// Hour buckets sort lexicographically in time order, so a sweep asks for <c>x-</c> ≤ PartitionKey ≤ <c>x-&lt;now&gt;</c>
/// and <c>DueAt</c> ≤ now: it reads only entries that are due, never the live sessions that are not.</item>
/// <item>Per-user index: PartitionKey <c>u-&lt;hex SHA-256 of the user&gt;</c>, RowKey = session id; one row per open
/// session. Counting a user's sessions is one partition query. User text never reaches a key or a filter unhashed.</item>
/// </list>
/// Index rows are written before the rows they describe (at Create-Session and at Close/Cancel), so a crash at any point
/// leaves an index row that leads the sweep to whatever is left; the sweep acts on what it finds in the session's
/// partition, never on the index row alone, and tolerates index rows whose session is gone. The hot path (Fragment)
/// never touches an index row: a session's real last activity is its row's Timestamp (every stored Fragment writes the
/// row), which the sweep reads only when the session's entry falls due.
/// </summary>
public sealed partial class AzureBitsUploadStore : IBitsExpiryStore
{
    internal const string ExpiryPartitionPrefix = "x-";
    internal const string UserPartitionPrefix = "u-";
    internal const string SessionKind = "session";
    internal const string TombstoneKind = "tombstone";

    /// <summary>Entries swept concurrently within one batch.</summary>
    private const int SweepConcurrency = 8;

    private static readonly string[] IndexColumns = ["PartitionKey", "RowKey", "Kind", "DueAt", "UserKey", "RegistryKey"];
    private static readonly string[] RowKeyColumn = ["RowKey"];

    private TimeSpan? _firstDueAfter;

    private enum SweepOutcome
    {
        Skipped,
        ExpiredSession,
        ExpiredTombstone,
        Rescheduled,
    }

    public Task<int> CountOpenSessionsAsync(string user, CancellationToken cancellationToken) => Guard(async () =>
    {
        var count = 0;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {UserPartition(user)}");
        await foreach (var page in _table.QueryAsync<TableEntity>(filter, maxPerPage: 1000, select: RowKeyColumn, cancellationToken: cancellationToken).AsPages())
        {
            count += page.Values.Count;
        }

        return count;
    }, cancellationToken);

    public Task<BitsSweepResult> SweepAsync(Func<BitsSession, TimeSpan> idleTimeout, DateTimeOffset now, int maxItems, CancellationToken cancellationToken) => Guard(async () =>
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {ExpiryPartitionPrefix} and PartitionKey le {ExpiryPartition(now)} and DueAt le {now.ToUniversalTime()}");
        var due = new List<TableEntity>(Math.Min(maxItems, 1000));
        await foreach (var entry in _table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(maxItems, 1000), select: IndexColumns, cancellationToken: cancellationToken))
        {
            due.Add(entry);
            if (due.Count >= maxItems)
            {
                break;
            }
        }

        int expiredSessions = 0, expiredTombstones = 0, rescheduled = 0;
        await Parallel.ForEachAsync(
            due,
            new ParallelOptions { MaxDegreeOfParallelism = SweepConcurrency, CancellationToken = cancellationToken },
            async (entry, token) =>
            {
                switch (await SweepEntryAsync(entry, idleTimeout, now, token))
                {
                    case SweepOutcome.ExpiredSession:
                        Interlocked.Increment(ref expiredSessions);
                        break;
                    case SweepOutcome.ExpiredTombstone:
                        Interlocked.Increment(ref expiredTombstones);
                        break;
                    case SweepOutcome.Rescheduled:
                        Interlocked.Increment(ref rescheduled);
                        break;
                }
            });
        return new BitsSweepResult(expiredSessions, expiredTombstones, rescheduled);
    }, cancellationToken);

    /// <summary>
    /// Expiry and user index rows of a new session, written before the session row (see the class remarks). The entry
    /// falls due at creation + the smallest timeout of any area: early enough for every area; the sweep then moves it to
    /// the session's own due time.
    /// </summary>
    private Task IndexNewSessionAsync(BitsSession session, CancellationToken cancellationToken)
    {
        var userKey = UserPartitionOrNull(session.User);
        var entry = IndexEntity(session.CreatedAt + FirstDueAfter, session.Id, SessionKind, userKey);
        entry["RegistryKey"] = session.PrivateStaging ? null : DestinationPartition(session.Container, session.Destination);
        var index = _table.UpsertEntityAsync(entry, TableUpdateMode.Replace, cancellationToken);
        return userKey is null
            ? index
            : Task.WhenAll(index, _table.UpsertEntityAsync(new TableEntity(userKey, session.Id), TableUpdateMode.Replace, cancellationToken));
    }

    /// <summary>The expiry entry of a tombstone about to be written, due when it expires.</summary>
    private async Task IndexTombstoneAsync(BitsSession session, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        await _table.UpsertEntityAsync(IndexEntity(expiresAt, session.Id, TombstoneKind, UserPartitionOrNull(session.User)), TableUpdateMode.Replace, cancellationToken);

    /// <summary>Removes an ended session from its user's count (no-op without a user; a missing row is fine).</summary>
    private async Task UnindexUserAsync(BitsSession session, CancellationToken cancellationToken)
    {
        if (UserPartitionOrNull(session.User) is { } userKey)
        {
            await _table.DeleteEntityAsync(userKey, session.Id, ETag.All, cancellationToken);
        }
    }

    /// <summary>Handles one due entry according to what the session's partition holds now.</summary>
    private async Task<SweepOutcome> SweepEntryAsync(TableEntity entry, Func<BitsSession, TimeSpan> idleTimeout, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (!BitsSessionIds.TryNormalize(entry.RowKey, out var id) || !string.Equals(id, entry.RowKey, StringComparison.Ordinal))
        {
            // Not an entry this store wrote: drop it without following it anywhere.
            await DeleteIndexEntryAsync(entry, cancellationToken);
            return SweepOutcome.Skipped;
        }

        TableEntity? sessionRow = null;
        TableEntity? tombstoneRow = null;
        var otherRows = new List<TableEntity>();
        await foreach (var row in _table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {id}"), cancellationToken: cancellationToken))
        {
            if (row.RowKey == SessionRowKey)
            {
                sessionRow = row;
            }
            else if (row.RowKey == TombstoneRowKey)
            {
                tombstoneRow = row;
            }
            else
            {
                otherRows.Add(row);
            }
        }

        var userKey = entry.GetString("UserKey");
        if (sessionRow is not null)
        {
            var session = ToSession(sessionRow);
            userKey ??= UserPartitionOrNull(session.User);

            // Last activity is recorded by every stored Fragment: the row's Timestamp (blocks on a destination have no
            // Last-Modified of their own).
            var lastActivity = new[] { session.LastActivity ?? DateTimeOffset.MinValue, session.CreatedAt }.Max();
            var dueAt = lastActivity + idleTimeout(session);
            if (dueAt > now)
            {
                await MoveIndexEntryAsync(entry, dueAt, SessionKind, userKey, cancellationToken);
                return SweepOutcome.Rescheduled;
            }

            // Row first, conditionally: a session that changed since it was read is looked at again next run.
            if (!await DeleteRowAsync(sessionRow, cancellationToken))
            {
                return SweepOutcome.Skipped;
            }

            Log.SessionExpired(_logger, id, lastActivity);
            await CleanUpStagedAsync(session, cancellationToken);
            await FinishAsync(entry, userKey, cancellationToken);
            return SweepOutcome.ExpiredSession;
        }

        if (tombstoneRow is not null)
        {
            userKey ??= UserPartitionOrNull(tombstoneRow.GetString("User"));
            var expiresAt = tombstoneRow.GetDateTimeOffset("ExpiresAt") ?? DateTimeOffset.MinValue;
            if (expiresAt > now)
            {
                // A closed session's own entry, or a tombstone entry written early: due when the tombstone expires.
                await MoveIndexEntryAsync(entry, expiresAt, TombstoneKind, userKey, cancellationToken);
                return SweepOutcome.Rescheduled;
            }

            if (!await DeleteRowAsync(tombstoneRow, cancellationToken))
            {
                return SweepOutcome.Skipped;
            }

            // Staged data left by a crash between the tombstone and the clean-up; the overwrite record, if any.
            await DeleteBlobsAsync(await ListStagingAsync(id, cancellationToken), cancellationToken);
            await CleanUpStagedAsync(ToSession(tombstoneRow), cancellationToken);
            foreach (var other in otherRows)
            {
                await DeleteRowAsync(other, cancellationToken);
            }

            await FinishAsync(entry, userKey, cancellationToken);
            return SweepOutcome.ExpiredTombstone;
        }

        // Neither row: an earlier sweep or a Create-Session stopped half-way. Remove whatever is left.
        await DeleteBlobsAsync(await ListStagingAsync(id, cancellationToken), cancellationToken);
        if (entry.GetString("RegistryKey") is { } registry && registry.StartsWith(DestinationPartitionPrefix, StringComparison.Ordinal))
        {
            await _table.DeleteEntityAsync(registry, id, ETag.All, cancellationToken);
        }
        await FinishAsync(entry, userKey, cancellationToken);
        return entry.GetString("Kind") == TombstoneKind ? SweepOutcome.ExpiredTombstone : SweepOutcome.ExpiredSession;
    }

    /// <summary>Last steps of a removal: the user index row, then the expiry entry (last, so a crash is retried).</summary>
    private async Task FinishAsync(TableEntity entry, string? userKey, CancellationToken cancellationToken)
    {
        if (userKey is not null && userKey.StartsWith(UserPartitionPrefix, StringComparison.Ordinal))
        {
            await _table.DeleteEntityAsync(userKey, entry.RowKey, ETag.All, cancellationToken);
        }

        await DeleteIndexEntryAsync(entry, cancellationToken);
    }

    private async Task MoveIndexEntryAsync(TableEntity entry, DateTimeOffset dueAt, string kind, string? userKey, CancellationToken cancellationToken)
    {
        var moved = IndexEntity(dueAt, entry.RowKey, kind, userKey);
        moved["RegistryKey"] = entry.GetString("RegistryKey");
        await _table.UpsertEntityAsync(moved, TableUpdateMode.Replace, cancellationToken);
        if (moved.PartitionKey != entry.PartitionKey)
        {
            await DeleteIndexEntryAsync(entry, cancellationToken);
        }
    }

    /// <summary>Deletes an entry as it was read: one rewritten meanwhile (e.g. by a concurrent Close) stays.</summary>
    private async Task DeleteIndexEntryAsync(TableEntity entry, CancellationToken cancellationToken) => await DeleteRowAsync(entry, cancellationToken);

    /// <summary>Deletes a row if unchanged since read; false when it changed (412). A row already gone counts as deleted.</summary>
    private async Task<bool> DeleteRowAsync(TableEntity row, CancellationToken cancellationToken)
    {
        try
        {
            await _table.DeleteEntityAsync(row.PartitionKey, row.RowKey, row.ETag == default ? ETag.All : row.ETag, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.IsPreconditionFailed())
        {
            return false;
        }
    }

    /// <summary>Every staging blob of a session (segments, request and reply blobs), with Last-Modified: one list call.</summary>
    private async Task<List<BlobItem>> ListStagingAsync(string sessionId, CancellationToken cancellationToken)
    {
        var blobs = new List<BlobItem>();
        await foreach (var blob in _staging.GetBlobsAsync(new GetBlobsOptions { Prefix = SessionKey(sessionId) + "/", States = BlobStates.Uncommitted }, cancellationToken))
        {
            blobs.Add(blob);
        }

        return blobs;
    }

    private async Task DeleteBlobsAsync(List<BlobItem> blobs, CancellationToken cancellationToken)
    {
        foreach (var blob in blobs)
        {
            await _staging.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken);
        }
    }

    /// <summary>The smallest session timeout of any area (and of the top level, and for unused sessions): the creation-time due delay.</summary>
    private TimeSpan FirstDueAfter => _firstDueAfter ??=
        new BitsAreaCatalog(_serverOptions).Areas.Select(a => a.SessionTimeout).Append(_serverOptions.SessionTimeout).Append(_serverOptions.UnusedSessionTimeout).Min();

    private static TableEntity IndexEntity(DateTimeOffset dueAt, string sessionId, string kind, string? userKey) =>
        new(ExpiryPartition(dueAt), sessionId)
        {
            ["Kind"] = kind,
            ["DueAt"] = dueAt.ToUniversalTime(),
            ["UserKey"] = userKey,
        };

    /// <summary>The expiry bucket of a due time: <c>x-yyyyMMddHH</c> in UTC.</summary>
    internal static string ExpiryPartition(DateTimeOffset dueAt) =>
        ExpiryPartitionPrefix + dueAt.UtcDateTime.ToString("yyyyMMddHH", CultureInfo.InvariantCulture);

    /// <summary>The per-user partition: <c>u-</c> + lower-case hex SHA-256 of the UTF-8 user name.</summary>
    internal static string UserPartition(string user) =>
        UserPartitionPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(user)));

    private static string? UserPartitionOrNull(string? user) => user is null ? null : UserPartition(user);

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Storage.SessionExpired, LogLevel.Information, "Session {SessionId} expired (last activity {LastActivity}); removed with its staged data", EventName = "SessionExpired")]
        public static partial void SessionExpired(ILogger logger, string sessionId, DateTimeOffset lastActivity);
    }
}

using Microsoft.Extensions.Logging;

namespace Bits.Protocol;

/// <summary>
/// <c>BITS-Copy-File-To-Destination</c> in upload-reply areas: the server-side copy of an upload into its destination
/// runs in slices of at most <see cref="BitsServerOptions.CopyTimeBudget"/> (measured on the handler's clock), the first
/// by the final Fragment once the back-end has answered, the next by each Close-Session, which answers 503 +
/// BG_E_HTTP_ERROR_503 until the copy is done. No process remembers a copy: the destination's staged blocks tell how
/// far it got, so any instance continues where the last one stopped.
/// </summary>
internal sealed partial class BitsDestinationCopy(BitsProtocolHandler handler, TimeSpan budget)
{
    /// <summary>Works on the copy for at most the budget; true when it is done (the publish may commit).</summary>
    public async Task<bool> ContinueAsync(IBitsReplyStore store, BitsSession session, CancellationToken cancellationToken)
    {
        using var slice = new CancellationTokenSource(budget, handler.Time);
        bool done;
        try
        {
            done = await store.CopyToDestinationAsync(session, slice.Token, cancellationToken);
        }
        catch (OperationCanceledException) when (slice.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            done = false;
        }

        if (!done)
        {
            Log.CopyContinuesLater(handler.Logger, session.Id, budget.TotalSeconds);
        }

        return done;
    }

    /// <summary>
    /// The first slice, on the final Fragment after the back-end's 200: best effort, the Fragment's Ack does not depend
    /// on it (a storage fault is logged; Close-Session continues the copy).
    /// </summary>
    public async Task StartAsync(IBitsReplyStore store, BitsSession session, CancellationToken cancellationToken)
    {
        try
        {
            await ContinueAsync(store, session, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Any storage fault, transient or not (e.g. a refused Put Block From URL): the back-end's answer is recorded,
            // so the final Fragment still succeeds and Close-Session continues (or reports) the copy.
            Log.CopyStartFailed(handler.Logger, session.Id, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Protocol.CopyContinuesLater, LogLevel.Information, "Session {SessionId}: the copy into the destination continues at the next Close-Session (this request's budget of {BudgetSeconds} s is used)", EventName = "CopyContinuesLater")]
        public static partial void CopyContinuesLater(ILogger logger, string sessionId, double budgetSeconds);

        [LoggerMessage(BitsEventIds.Protocol.CopyStartFailed, LogLevel.Warning, "Session {SessionId}: the copy into the destination could not start on the final Fragment; Close-Session continues it", EventName = "CopyStartFailed")]
        public static partial void CopyStartFailed(ILogger logger, string sessionId, Exception exception);
    }
}

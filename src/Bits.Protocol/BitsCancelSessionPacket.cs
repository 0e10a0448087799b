namespace Bits.Protocol;

/// <summary>
/// The Cancel-Session packet: discards an open session (or a live record another session's commit marked discarded);
/// allowed in a disabled area, so a client can always clean up.
/// </summary>
internal sealed class BitsCancelSessionPacket(BitsProtocolHandler handler)
{
    public async Task<BitsResponse> HandleAsync(BitsParsedRequest request, CancellationToken cancellationToken)
    {
        handler.Sessions.Forget(request);
        var (session, _, failure) = await handler.Sessions.FindAsync(request, requireEnabled: false, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }

        if (session!.State is BitsSessionState.Open or BitsSessionState.Discarded)
        {
            // Discarded: also a live record another session's commit marked (a tombstone is left as it is).
            await handler.Store.DiscardAsync(session, BitsSessionState.Cancelled, cancellationToken);
            BitsProtocolHandler.Log.Cancelled(handler.Logger, session.Id);
        }

        return BitsResponse.Ok().WithSession(request.Echo);
    }
}

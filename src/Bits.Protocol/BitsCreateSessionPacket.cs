namespace Bits.Protocol;

/// <summary>
/// The Create-Session packet: checks the destination, the offered protocol and the area's limits, then records a new
/// open session bound to its URL, area and owner. Nothing is staged yet.
/// </summary>
internal sealed class BitsCreateSessionPacket(BitsProtocolHandler handler)
{
    private const int MaxProtocolEntries = 100;

    public async Task<BitsResponse> HandleAsync(BitsParsedRequest parsed, CancellationToken cancellationToken)
    {
        var request = parsed.Request;
        if (parsed.Destination is not { } destination)
        {
            return BitsResponse.Failure(BitsErrors.InvalidPath.Error(parsed.PathProblem!));
        }

        if (parsed.AreaDisabled() is { } disabled)
        {
            return BitsResponse.Failure(disabled);
        }

        if (!OffersUploadProtocol(request.SupportedProtocols, out var problem))
        {
            return BitsResponse.Failure(BitsErrors.ProtocolNotOffered.Error(problem!));
        }

        var area = destination.Area;
        if (area.NotificationType != BitsNotificationType.None && request.Url is not null
            && BitsReplyNotification.ReplyUrl(request.Url, Guid.Empty.ToString("B")).Length > BitsNotifier.MaxReplyUrlLength)
        {
            // Refused before any byte is sent: the final Fragment's BITS-Reply-URL could not fit the client's limit.
            return BitsResponse.Failure(BitsReplyNotification.ReplyUrlTooLong());
        }

        if (request.User is { } user && area.MaxSessionsPerUser > 0 && handler.Store is IBitsExpiryStore expiry
            && await expiry.CountOpenSessionsAsync(user, cancellationToken) >= area.MaxSessionsPerUser)
        {
            return BitsResponse.Failure(BitsErrors.SessionLimitReached.Error(
                $"User already holds {area.MaxSessionsPerUser} open sessions; close or cancel one, or retry later."));
        }

        if (!area.AllowOverwrites && await handler.Store.DestinationExistsAsync(destination.Container, destination.BlobName, cancellationToken))
        {
            return BitsResponse.Failure(BitsErrors.DestinationExists.Error($"'{destination.Path}' already exists and overwriting is not allowed."));
        }

        var session = new BitsSession
        {
            Id = BitsSessionIds.NewId(),
            Destination = destination.BlobName,
            Container = destination.Container,
            Area = area.Name,
            ContentName = request.ContentName,
            User = request.User,
            Owner = request.User is null ? null : parsed.Owner,
            CreatedAt = handler.Time.GetUtcNow(),
            PrivateStaging = area.NotificationType != BitsNotificationType.None,
        };
        await handler.Store.CreateSessionAsync(session, cancellationToken);
        BitsProtocolHandler.Log.SessionCreated(handler.Logger, session.Id, DestinationPath.ForLog(destination.Path)!);
        return BitsResponse.Ok()
            .With(BitsHeaders.Protocol, BitsHeaders.UploadProtocolGuid)
            .WithSession(session.Id)
            .With(BitsHeaders.AcceptEncoding, "identity");
    }

    private static bool OffersUploadProtocol(string? supported, out string? problem)
    {
        problem = null;
        if (string.IsNullOrWhiteSpace(supported))
        {
            problem = "BITS-Supported-Protocols is required on Create-Session.";
            return false;
        }

        var entries = supported.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (entries.Length > MaxProtocolEntries)
        {
            problem = $"BITS-Supported-Protocols lists more than {MaxProtocolEntries} protocols.";
            return false;
        }

        foreach (var entry in entries)
        {
            if (entry.Equals(BitsHeaders.UploadProtocolGuid, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        problem = "No protocol in BITS-Supported-Protocols is supported by this server.";
        return false;
    }
}

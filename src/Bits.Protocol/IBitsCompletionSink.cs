namespace Bits.Protocol;

/// <summary>A file was published: what downstream processing needs to pick it up without polling.</summary>
public sealed record BitsCompletionEvent(
    string SessionId,
    string Area,
    string? Container,
    string BlobName,
    long Size,
    string? User,
    string? ContentName,
    DateTimeOffset CreatedAt,
    DateTimeOffset CompletedAt);

/// <summary>Optional: where completion events go (an Azure Storage queue in production).</summary>
public interface IBitsCompletionSink
{
    /// <summary>Delivers the event to <paramref name="queue"/>; throws on failure (the caller decides what that means).</summary>
    Task PublishAsync(string queue, BitsCompletionEvent completion, CancellationToken cancellationToken);
}

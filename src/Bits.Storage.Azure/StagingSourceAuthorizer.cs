using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Sas;

namespace Bits.Storage.Azure;

/// <summary>
/// Gives Put Block From URL a short-lived, read-only URL of a staging segment: a service SAS when the client holds a
/// shared key (Azurite, connection strings), otherwise a user delegation SAS (managed identity). The delegation key is
/// reused until shortly before it expires.
/// </summary>
internal sealed class StagingSourceAuthorizer
{
    private static readonly TimeSpan SasLifetime = TimeSpan.FromMinutes(30);
    private static readonly TimeSpan KeyLifetime = TimeSpan.FromHours(6);

    private readonly BlobServiceClient _service;
    private readonly TimeProvider _time;
    private Task<UserDelegationKey>? _key;

    public StagingSourceAuthorizer(BlobServiceClient service, TimeProvider time)
    {
        _service = service;
        _time = time;
    }

    public Task<Uri> AuthorizeAsync(BlobBaseClient source, CancellationToken cancellationToken) =>
        AuthorizeAsync(source, BlobSasPermissions.Read, SasLifetime, cancellationToken);

    /// <summary>A SAS URL for one blob with <paramref name="permissions"/>, valid for <paramref name="lifetime"/> (at most 30 minutes).</summary>
    public async Task<Uri> AuthorizeAsync(BlobBaseClient source, BlobSasPermissions permissions, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        lifetime = lifetime > SasLifetime ? SasLifetime : lifetime;

        var builder = new BlobSasBuilder(permissions, now + lifetime)
        {
            BlobContainerName = source.BlobContainerName,
            BlobName = source.Name,
            Resource = "b",
            StartsOn = now.AddMinutes(-5),
            Protocol = source.Uri.Scheme == Uri.UriSchemeHttps ? SasProtocol.Https : SasProtocol.HttpsAndHttp,
        };

        if (source.CanGenerateSasUri)
        {
            return source.GenerateSasUri(builder);
        }

        var key = await GetKeyAsync(now, cancellationToken);
        var query = builder.ToSasQueryParameters(key, _service.AccountName);
        return new BlobUriBuilder(source.Uri) { Sas = query }.ToUri();
    }

    private async Task<UserDelegationKey> GetKeyAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        // One fetch serves every concurrent caller; a failed or soon-expiring key is replaced by the next caller.
        var pending = _key;
        if (pending is null || pending.IsFaulted || pending.IsCanceled
            || (pending.IsCompletedSuccessfully && pending.Result.SignedExpiresOn <= now + SasLifetime + TimeSpan.FromMinutes(5)))
        {
            var fetch = FetchKeyAsync(now, CancellationToken.None);
            pending = Interlocked.CompareExchange(ref _key, fetch, pending) == pending ? fetch : _key!;
        }

        return await pending.WaitAsync(cancellationToken);
    }

    private async Task<UserDelegationKey> FetchKeyAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var response = await _service.GetUserDelegationKeyAsync(new BlobGetUserDelegationKeyOptions(now + KeyLifetime) { StartsOn = now.AddMinutes(-5) }, cancellationToken);
        return response.Value;
    }
}
